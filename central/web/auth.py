"""Browser sessions for the console, on top of central's accounts (central.workflow.users):
a login form, an HttpOnly SameSite=Strict cookie holding the session token, and the
session's CSRF token in every form.

A console login and an API session are the same ``api_sessions`` record, so they expire,
are purged and are revoked the same way; both log in through central/frontdoor/login.py.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from central.web.state import WebState, web_state
from central.workflow import users
from central.workflow.common import Actor

COOKIE = "jw_session"


@dataclass(frozen=True)
class WebUser:
    actor: Actor
    csrf: str

    @property
    def role(self) -> str:
        return self.actor.role


class NeedLogin(Exception):
    """Raised by the dependency; the app turns it into a redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def logout(session: Session, token: str) -> None:
    users.close_session(session, token)


def session_user(session: Session, token: str | None) -> WebUser | None:
    found = users.session_user(session, token) if token else None
    if found is None:
        return None
    user, api_session = found
    return WebUser(users.actor_of(user), api_session.csrf_token)


def current_user(request: Request, st: Annotated[WebState, Depends(web_state)]) -> WebUser:
    with st.ctx.sessions() as s:
        u = session_user(s, request.cookies.get(COOKIE))
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
    if not hmac.compare_digest(user.csrf.encode(), (token or "").encode()):
        raise HTTPException(403, "form expired or forged (CSRF token mismatch): reload the page")
