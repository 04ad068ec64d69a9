"""Staff accounts (argon2id hashes) and API sessions (random tokens, stored hashed)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from central import audit
from central.auth.roles import STAFF
from central.store.models import ApiSession, User, utcnow
from central.workflow.common import Actor, Conflict, require_role

_hasher = PasswordHasher()
_USERNAME = re.compile(r"^[a-z0-9_.-]{2,64}$")
# Verified when the user does not exist, so a wrong username costs the same time.
_DUMMY_HASH = _hasher.hash("not a real password")


def create_user(session: Session, actor: Actor, username: str, password: str, role: str) -> User:
    require_role(actor, "admin", "system")
    if not _USERNAME.match(username):
        raise ValueError(f"username {username!r}: expected 2-64 of [a-z0-9_.-]")
    if role not in STAFF:
        raise ValueError(f"role {role!r}: expected one of {[str(r) for r in STAFF]}")
    if len(password) < 12:
        raise ValueError("password: at least 12 characters")
    if session.execute(sa.select(User.id).where(User.username == username)).first():
        raise Conflict(f"user {username}: exists")
    u = User(username=username, password_hash=_hasher.hash(password), role=role)
    session.add(u)
    session.flush()
    audit.record(session, actor.label, "user.create", f"user:{username}", {"role": role})
    return u


def find_user(session: Session, username: str) -> User | None:
    """The account a login names (None for a name no account can have)."""
    # PostgreSQL refuses NUL in text: such a name can never exist.
    if "\x00" in username or len(username) > 64:
        return None
    return session.execute(sa.select(User).where(User.username == username)).scalar()


def verify_password(password_hash: str | None, password: str) -> bool:
    """argon2id check (~50 ms of CPU and 64 MiB): call it outside any transaction.
    ``None`` (no such user) checks a dummy hash, so a wrong username costs the same."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, username: str, password: str) -> User | None:
    """Look up and verify in one go, for callers holding no write transaction (the HTTP
    login runs the three steps apart: central/frontdoor/login.py)."""
    u = find_user(session, username)
    if not verify_password(u.password_hash if u else None, password):
        return None
    if u is None or u.disabled:
        return None
    return u


def actor_of(u: User) -> Actor:
    return Actor(name=u.username, role=u.role, user_id=u.id)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    expires: datetime


def open_session(session: Session, user: User, hours: float) -> NewSession:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(hours=hours)
    session.add(
        ApiSession(token_hash=_hash_token(token), csrf_token=csrf, user_id=user.id, expires=expires)
    )
    audit.record(session, f"{user.role}:{user.username}", "user.login", f"user:{user.username}")
    return NewSession(token, csrf, expires)


def session_user(session: Session, token: str) -> tuple[User, ApiSession] | None:
    row = session.execute(
        sa.select(User, ApiSession)
        .join(ApiSession, ApiSession.user_id == User.id)
        .where(ApiSession.token_hash == _hash_token(token), ApiSession.expires > utcnow())
    ).first()
    if row is None or row[0].disabled:
        return None
    return row[0], row[1]


def token_hash(token: str) -> str:
    """How a session token is stored (``api_sessions.token_hash``)."""
    return _hash_token(token)


def live_sessions(session: Session, hashes: frozenset[str]) -> dict[str, str]:
    """Of the sessions stored as ``hashes``, those still live (not logged out, not
    expired, account not disabled): token hash -> the account's role now. One query,
    for the live queue streams' re-check (central/workflow/queue_stream.py)."""
    if not hashes:
        return {}
    rows = session.execute(
        sa.select(ApiSession.token_hash, User.role)
        .join(User, ApiSession.user_id == User.id)
        .where(
            ApiSession.token_hash.in_(sorted(hashes)),
            ApiSession.expires > utcnow(),
            User.disabled.is_(False),
        )
    )
    return {h: str(r) for h, r in rows}


def close_session(session: Session, token: str) -> None:
    session.execute(sa.delete(ApiSession).where(ApiSession.token_hash == _hash_token(token)))


@dataclass(frozen=True)
class Preferences:
    """One account's console preferences (on the ``users`` row, so they follow the
    person into any browser)."""

    keyboard_shortcuts: bool = True


def preferences(session: Session, actor: Actor) -> Preferences:
    """The preferences of the account acting; defaults for an actor without one (the
    system, a citizen)."""
    if actor.user_id is None:
        return Preferences()
    on = session.execute(
        sa.select(User.keyboard_shortcuts).where(User.id == actor.user_id)
    ).scalar_one_or_none()
    return Preferences(keyboard_shortcuts=True if on is None else bool(on))


def set_preferences(session: Session, actor: Actor, *, keyboard_shortcuts: bool) -> Preferences:
    """Change one's own preferences — only one's own: there is no user argument, so no
    role can set another account's. Not audited: a display preference decides nothing
    about anyone (the audit chain is for decisions and reads of personal data)."""
    if actor.user_id is None:
        raise Conflict(f"{actor.label} has no account to keep preferences on")
    session.execute(
        sa.update(User)
        .where(User.id == actor.user_id)
        .values(keyboard_shortcuts=keyboard_shortcuts)
    )
    return preferences(session, actor)
