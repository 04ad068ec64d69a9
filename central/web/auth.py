"""Browser sessions for the console: login form, HttpOnly cookie, per-session CSRF token.

Sessions live in central's ``api_sessions`` table (only the token's sha256 is stored),
so a console login and an API session are the same kind of record and expire, are
purged and are revoked the same way. Every form POST carries the session's CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from central import audit
from central.store.models import ApiSession, User, utcnow
from central.web.state import WebState, web_state
from central.workflow.common import Actor

COOKIE = "jw_session"
_hasher = PasswordHasher()
# Verified against when the user does not exist, so both failures cost the same time.
_DUMMY_HASH = _hasher.hash("jaywatch-dummy-password")


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


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(session: Session, username: str, password: str, hours: float) -> str | None:
    """Check the password; on success create a session and return its cookie token."""
    user = session.execute(
        sa.select(User).where(User.username == username, User.disabled.is_(False))
    ).scalar()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        ok = user is not None
    except (VerificationError, InvalidHashError):
        ok = False
    audit.record(
        session,
        f"user:{username[:64]}",
        "login.ok" if ok else "login.fail",
        f"user:{username[:64]}",
    )
    if not ok or user is None:
        return None
    token = secrets.token_urlsafe(32)
    session.add(
        ApiSession(
            token_hash=_token_hash(token),
            csrf_token=secrets.token_urlsafe(24),
            user_id=user.id,
            expires=utcnow() + timedelta(hours=hours),
        )
    )
    return token


def logout(session: Session, token: str) -> None:
    session.execute(sa.delete(ApiSession).where(ApiSession.token_hash == _token_hash(token)))


def session_user(session: Session, token: str | None) -> WebUser | None:
    if not token:
        return None
    row = session.execute(
        sa.select(User, ApiSession.csrf_token)
        .join(ApiSession, ApiSession.user_id == User.id)
        .where(
            ApiSession.token_hash == _token_hash(token),
            ApiSession.expires > utcnow(),
            User.disabled.is_(False),
        )
    ).first()
    if row is None:
        return None
    user, csrf = row
    return WebUser(Actor(user.username, user.role, user.id), csrf)


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


def hash_password(password: str) -> str:
    """argon2id hash (used by tests and by the CLI until ``central user add`` exists)."""
    return _hasher.hash(password)
