"""Console pages' side of central/auth: a login redirect instead of a 401, a 403 page
instead of JSON, and the CSRF token checked from the form field.

A console login and an API session are the same ``api_sessions`` record
(central/auth/sessions.py), so they expire, are purged and are revoked the same way; both
log in through central/frontdoor/login.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from central.auth import sessions
from central.auth.sessions import COOKIE, SessionUser
from central.web.state import WebState, web_state
from central.workflow import users

__all__ = ["COOKIE", "NeedLogin", "WebUser", "check_csrf", "current_user", "require"]

WebUser = SessionUser  # the pages' name for the logged-in user


class NeedLogin(Exception):
    """Raised by the dependency; the app turns it into a redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def logout(session: Session, token: str) -> None:
    users.close_session(session, token)


def current_user(request: Request, st: Annotated[WebState, Depends(web_state)]) -> WebUser:
    with st.ctx.sessions() as s:
        u = sessions.lookup(s, request.cookies.get(COOKIE))
    if u is None:
        raise NeedLogin(str(request.url.path))
    return u


def require(*roles: str):  # type: ignore[no-untyped-def]
    """Dependency: a logged-in user with one of ``roles`` (else 403, or login redirect)."""

    def dep(user: Annotated[WebUser, Depends(current_user)]) -> WebUser:
        if user.role not in roles:
            raise HTTPException(403, f"this page needs the role: {' or '.join(roles)}")
        return user

    return dep


def check_csrf(user: WebUser, token: str) -> None:
    if not sessions.csrf_ok(user.csrf, token):
        raise HTTPException(403, "form expired or forged (CSRF token mismatch): reload the page")
