"""Console login and logout (the API's login: central/frontdoor/login.py, the same
throttle and budget), and /console, which sends each role to its first page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse

from central.auth import sessions
from central.auth.roles import STAFF
from central.frontdoor import client_address, frontdoor
from central.frontdoor.login import attempt_login
from central.web.auth import COOKIE, WebUser, check_csrf, logout, require
from central.web.pages import PageRoute, render, see_other
from central.web.state import WebState, web_state

router = APIRouter(prefix="/console", tags=["console"], route_class=PageRoute)


@router.get("", include_in_schema=False)
def home(*, request: Request, st: Annotated[WebState, Depends(web_state)]) -> Response:
    with st.ctx.sessions() as s:
        u = sessions.lookup(s, request.cookies.get(COOKIE))
    if u is None:
        return see_other("/console/login")
    target = {"operator": "/console/queue", "supervisor": "/console/appeals"}.get(
        u.role, "/console/dashboard" if u.role != "auditor" else "/console/audit"
    )
    return see_other(target)


def _safe_next(next_url: str) -> str:
    return next_url if next_url.startswith("/console") and "//" not in next_url else "/console"


@router.get("/login", response_class=HTMLResponse)
def login_form(
    *, request: Request, next: str = "/console", st: Annotated[WebState, Depends(web_state)]
):
    return render(st, request, "login.html", None, next=_safe_next(next), error=None)


@router.post("/login")
async def login_submit(
    *,
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form()] = "/console",
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    """The API's login (central/frontdoor/login.py): the same throttle, the same budget."""
    got = await attempt_login(
        frontdoor(request), st.ctx, client_address(request), username, password
    )
    if got.refused is not None:
        resp = render(
            st, request, "login.html", None, next=_safe_next(next),
            error="Too many attempts. Wait a minute and try again.",
        )  # fmt: skip
        resp.status_code = 503 if got.busy else 429
        resp.headers.update(got.refused.headers)
        return resp
    if got.session is None:
        resp = render(
            st, request, "login.html", None, next=_safe_next(next),
            error="Wrong username or password.",
        )  # fmt: skip
        resp.status_code = 401
        return resp
    token = got.session.token
    resp = see_other(_safe_next(next))
    resp.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=st.ctx.config.api.secure_cookies,
        max_age=int(st.ctx.config.api.session_hours * 3600),
        path="/",
    )
    return resp


@router.post("/logout")
def logout_submit(
    *,
    request: Request,
    csrf_token: Annotated[str, Form()] = "",
    user: Annotated[WebUser, Depends(require(*STAFF))],
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    check_csrf(user, csrf_token)
    with st.tx() as s:
        logout(s, request.cookies.get(COOKIE, ""))
    resp = see_other("/console/login")
    resp.delete_cookie(COOKIE, path="/")
    return resp
