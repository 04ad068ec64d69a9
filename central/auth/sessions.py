"""The session both front-ends share: one ``api_sessions`` row, reached by a bearer token
(API clients) or by the HttpOnly cookie the console login sets, with its CSRF token."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from sqlalchemy.orm import Session

from central.workflow import users
from central.workflow.common import Actor

COOKIE = "jw_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"  # the hidden form field on console pages


@dataclass(frozen=True)
class SessionUser:
    actor: Actor
    csrf: str

    @property
    def role(self) -> str:
        return self.actor.role


def lookup(session: Session, token: str | None) -> SessionUser | None:
    """The user behind a session token, or None (unknown, expired, revoked, disabled)."""
    found = users.session_user(session, token) if token else None
    if found is None:
        return None
    user, api_session = found
    return SessionUser(users.actor_of(user), api_session.csrf_token)


def csrf_ok(expected: str, sent: str | None) -> bool:
    """Constant-time comparison; an empty or missing token never matches."""
    return bool(sent) and hmac.compare_digest(expected.encode(), (sent or "").encode())
