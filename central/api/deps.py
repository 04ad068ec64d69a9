"""API side of central/auth: who is calling (bearer token, or the console's session cookie
plus its CSRF token) and the role dependencies, answered as 401/403 JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from central.auth import sessions
from central.auth.sessions import COOKIE, CSRF_FIELD, CSRF_HEADER
from central.context import Context
from central.workflow.common import Actor

__all__ = ["COOKIE", "CSRF_HEADER", "Caller", "caller", "get_ctx", "request_token", "require"]
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_ctx(request: Request) -> Context:
    return request.app.state.ctx


@dataclass(frozen=True)
class Caller:
    actor: Actor
    via_cookie: bool


def request_token(request: Request) -> tuple[str | None, bool]:
    """(session token, came in the console's cookie): a bearer token first."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), False
    if request.cookies.get(COOKIE):
        return request.cookies[COOKIE], True
    return None, False


async def caller(request: Request, ctx: Annotated[Context, Depends(get_ctx)]) -> Caller:
    token, via_cookie = request_token(request)
    if not token:
        raise HTTPException(
            401, "log in first (POST /api/auth/login)", {"WWW-Authenticate": "Bearer"}
        )
    with ctx.sessions() as s:
        found = sessions.lookup(s, token)
    if found is None:
        raise HTTPException(401, "session expired or unknown", {"WWW-Authenticate": "Bearer"})
    if via_cookie and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent and "form" in request.headers.get("content-type", ""):
            sent = str((await request.form()).get(CSRF_FIELD, ""))
        if not sessions.csrf_ok(found.csrf, sent):
            raise HTTPException(403, f"CSRF token missing or wrong (send {CSRF_HEADER})")
    return Caller(found.actor, via_cookie)


def require(*roles: str) -> Callable[..., Actor]:
    """Dependency factory: the calling user's Actor, if their role is one of ``roles``."""

    def dep(c: Annotated[Caller, Depends(caller)]) -> Actor:
        if c.actor.role not in roles:
            raise HTTPException(403, f"needs role: {' or '.join(roles)}")
        return c.actor

    dep.__name__ = f"require_{'_'.join(roles)}"
    return dep
