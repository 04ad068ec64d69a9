"""Request plumbing: who is calling (bearer token or session cookie + CSRF), role checks."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from central.context import Context
from central.workflow.common import Actor
from central.workflow.users import actor_of, session_user

COOKIE = "jw_session"  # the same cookie the web console sets: one kind of session
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_ctx(request: Request) -> Context:
    return request.app.state.ctx


def db(ctx: Annotated[Context, Depends(get_ctx)]) -> Iterator[Session]:
    """One transaction per request: the decision and its audit entry commit together."""
    with ctx.sessions.begin() as s:
        yield s


@dataclass(frozen=True)
class Caller:
    actor: Actor
    via_cookie: bool


async def caller(request: Request, ctx: Annotated[Context, Depends(get_ctx)]) -> Caller:
    auth = request.headers.get("authorization", "")
    token, via_cookie = None, False
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    elif request.cookies.get(COOKIE):
        token, via_cookie = request.cookies[COOKIE], True
    if not token:
        raise HTTPException(
            401, "log in first (POST /api/auth/login)", {"WWW-Authenticate": "Bearer"}
        )
    with ctx.sessions() as s:
        found = session_user(s, token)
    if found is None:
        raise HTTPException(401, "session expired or unknown", {"WWW-Authenticate": "Bearer"})
    user, sess = found
    if via_cookie and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent and "form" in request.headers.get("content-type", ""):
            sent = str((await request.form()).get("csrf_token", ""))
        if not hmac.compare_digest(sent.encode(), sess.csrf_token.encode()):
            raise HTTPException(403, f"CSRF token missing or wrong (send {CSRF_HEADER})")
    return Caller(actor_of(user), via_cookie)


def require(*roles: str) -> Callable[..., Actor]:
    """Dependency factory: the calling user's Actor, if their role is one of ``roles``."""

    def dep(c: Annotated[Caller, Depends(caller)]) -> Actor:
        if c.actor.role not in roles:
            raise HTTPException(403, f"needs role: {' or '.join(roles)}")
        return c.actor

    dep.__name__ = f"require_{'_'.join(roles)}"
    return dep
