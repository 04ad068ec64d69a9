"""HTML error pages (403, 404, 409, 422, 500...) for people's pages: the console, the
citizen notice pages and the SMS link. They keep the status code and any headers (e.g.
Retry-After) and offer a way on — the console's navigation for a logged-in user, the
notice form for a citizen. The JSON API keeps FastAPI's JSON errors."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from central.auth import sessions
from central.web.auth import COOKIE, WebUser
from central.web.state import web_state

log = logging.getLogger(__name__)
PAGE_PREFIXES = ("/console", "/notice", "/n/")
TITLES = {
    400: "Bad request",
    401: "Not logged in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Cannot do that now",
    413: "Too large",
    422: "Something in the request is not right",
    429: "Too many requests",
    500: "Something went wrong on our side",
    503: "Busy",
}


def is_page(request: Request) -> bool:
    path = request.url.path
    return path.startswith(PAGE_PREFIXES) or path == "/n"


def page_user(request: Request) -> WebUser | None:
    token = request.cookies.get(COOKIE)
    if not token or not request.url.path.startswith("/console"):
        return None
    try:
        with web_state(request).ctx.sessions() as s:
            return sessions.lookup(s, token)
    except Exception:  # the error page must render even with the database down
        return None


async def render(
    request: Request, code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    user = await run_in_threadpool(page_user, request)
    citizen = not request.url.path.startswith("/console")
    return web_state(request).templates.TemplateResponse(
        request,
        "error.html",
        {
            "code": code,
            "title": TITLES.get(code, "Cannot do that"),
            "message": message,
            "user": user,
            "citizen": citizen,
        },
        status_code=code,
        headers={**(headers or {}), "Cache-Control": "no-store"},
    )


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)[:500]


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if not is_page(request):
            return await http_exception_handler(request, exc)
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"There is no page at {request.url.path[:200]}."
        return await render(request, exc.status_code, detail, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if not is_page(request):
            return await request_validation_exception_handler(request, exc)
        return await render(request, 422, _validation_message(exc))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        # Logged by the server as well (Starlette re-raises after this handler answers).
        if not is_page(request):
            return PlainTextResponse("Internal Server Error", status_code=500)
        try:
            return await render(request, 500, "The error was logged. Try again in a moment.")
        except Exception:
            log.exception("error page failed")
            return PlainTextResponse("Internal Server Error", status_code=500)
