"""Sessions: log in (throttled, central/frontdoor/login.py, the console's login too) and
log out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from central.api import schemas as S
from central.api.deps import COOKIE, Caller, caller, get_ctx
from central.context import Context
from central.frontdoor import client_address, frontdoor
from central.frontdoor.login import attempt_login
from central.workflow.users import close_session

router = APIRouter(prefix="/api")
Ctx = Annotated[Context, Depends(get_ctx)]


@router.post(
    "/auth/login",
    response_model=S.LoginOut,
    tags=["auth"],
    responses={
        401: {"description": "wrong username or password"},
        429: {"description": "too many attempts for this account or address (Retry-After)"},
        503: {"description": "too many logins being checked at once (Retry-After)"},
    },
)
async def login(body: S.LoginIn, request: Request, response: Response, ctx: Ctx) -> S.LoginOut:
    """Throttled per account and per client address (``http.login_per_*``)."""
    fd = frontdoor(request)
    got = await attempt_login(fd, ctx, client_address(request), body.username, body.password)
    if got.refused is not None:
        status = 503 if got.busy else 429
        raise HTTPException(status, "too many login attempts; try again later", got.refused.headers)
    if got.session is None:
        raise HTTPException(401, "wrong username or password")
    new = got.session
    response.set_cookie(
        COOKIE,
        new.token,
        httponly=True,
        samesite="strict",
        secure=ctx.config.api.secure_cookies,
        max_age=int(ctx.config.api.session_hours * 3600),
    )
    return S.LoginOut(
        token=new.token, csrf_token=new.csrf_token, expires=new.expires, role=got.role
    )


@router.post("/auth/logout", status_code=204, tags=["auth"])
def logout(
    request: Request, response: Response, ctx: Ctx, c: Annotated[Caller, Depends(caller)]
) -> None:
    auth = request.headers.get("authorization", "")
    token = (
        auth[7:].strip() if auth.lower().startswith("bearer ") else request.cookies.get(COOKIE, "")
    )
    with ctx.sessions.begin() as s:
        close_session(s, token)
    response.delete_cookie(COOKIE)
