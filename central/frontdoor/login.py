"""A staff login, for the API (/api/auth/login) and the console (/console/login) alike.

Three steps, none of which holds a write transaction while hashing:
1. throttle: one upsert charging the account's and the client address's buckets
   (refused → 429 with Retry-After; the attempt is not audited, the log says it);
2. read the account (a read of microseconds), then argon2 on the password pool
   (central/frontdoor/passwords.py), outside any transaction;
3. a short write: open the session and audit the login, or audit the failure. The
   account is read again there, so one disabled (or whose password changed) while its
   hash was being checked does not get in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from central import audit
from central.context import Context
from central.frontdoor import FrontDoor
from central.frontdoor.passwords import Busy
from central.frontdoor.ratelimit import Verdict
from central.store.models import User
from central.workflow.users import NewSession, find_user, open_session

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginResult:
    session: NewSession | None = None
    role: str = ""
    refused: Verdict | None = None  # throttled (429) or password pool full (503)
    busy: bool = False

    @property
    def ok(self) -> bool:
        return self.session is not None


@dataclass(frozen=True)
class _Account:
    id: int
    password_hash: str
    disabled: bool


async def attempt_login(
    fd: FrontDoor, ctx: Context, address: str, username: str, password: str
) -> LoginResult:
    verdict = await run_in_threadpool(fd.throttle.login, address, username)
    if not verdict.allowed:
        log.warning(
            "login throttled (%s) for %r from %s; retry after %d s",
            ",".join(verdict.refused_by), username[:64], address[:64], verdict.retry_after_s,
        )  # fmt: skip
        return LoginResult(refused=verdict)
    account = await run_in_threadpool(_read_account, ctx, username)
    try:
        ok = await fd.passwords.verify(account.password_hash if account else None, password)
    except Busy:
        log.warning("login from %s refused: too many password checks waiting", address[:64])
        return LoginResult(refused=Verdict(False, Busy.retry_after_s, ("busy",)), busy=True)
    good = account if (ok and account is not None and not account.disabled) else None
    return await run_in_threadpool(_finish, ctx, good, username, ctx.config.api.session_hours)


def _read_account(ctx: Context, username: str) -> _Account | None:
    with ctx.sessions() as s:
        u = find_user(s, username)
        return None if u is None else _Account(u.id, u.password_hash, u.disabled)


def _finish(ctx: Context, good: _Account | None, username: str, hours: float) -> LoginResult:
    with ctx.sessions.begin() as s:
        user = s.get(User, good.id) if good is not None else None
        if user is None or user.disabled or user.password_hash != good.password_hash:  # type: ignore[union-attr]
            name = username[:64].replace("\x00", "\\x00")
            audit.record(s, f"anonymous:{name}", "user.login_failed", "auth")
            return LoginResult()
        return LoginResult(session=open_session(s, user, hours), role=user.role)
