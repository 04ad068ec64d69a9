"""Route class for the web pages: domain refusals become an HTML error page.

Scoped to the page routers on purpose: the JSON API in the same app keeps its own
JSON error handlers (an app-wide handler here would change the API's error format).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from central.web.state import WebState, web_state
from central.workflow.claims import Claimed
from central.workflow.common import Conflict, Forbidden, NotFound, WorkflowError

STATUS = {NotFound: 404, Conflict: 409, Forbidden: 403}


async def error_page(request: Request, code: int, message: str) -> Response:
    """The HTML error page (central.web.errors), with navigation for who is looking."""
    from central.web.errors import render

    return await render(request, code, message)


class PageRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except Claimed as e:  # another operator holds the case: say who, offer a way on
                from fastapi.concurrency import run_in_threadpool

                from central.web.errors import page_user
                from central.web.queue import claimed_page

                user = await run_in_threadpool(page_user, request)
                if user is None:
                    return await error_page(request, 409, str(e))
                return claimed_page(web_state(request), request, user, e.claim)
            except WorkflowError as e:
                code = next((c for t, c in STATUS.items() if isinstance(e, t)), 400)
                return await error_page(request, code, str(e))
            except ValueError as e:  # the workflow's "bad input" (e.g. unknown reason code)
                return await error_page(request, 422, str(e))

        return handler


def render(st: WebState, request: Request, name: str, user: Any, **ctx: Any) -> Response:
    """Template ``name`` with the logged-in ``user`` (None on the login page) and ``ctx``."""
    return st.templates.TemplateResponse(request, name, {"user": user, **ctx})


def see_other(url: str) -> RedirectResponse:
    """The redirect after a form post (303: the browser follows with a GET)."""
    return RedirectResponse(url, status_code=303)


def package_response(data: bytes, filename: str) -> Response:
    """An evidence package (zip) as a download that no cache keeps; one shape for the
    console and the citizen's notice page."""
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )
