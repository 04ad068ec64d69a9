"""The FastAPI application: ``create_app(ctx)``; OpenAPI at /api/openapi.json."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from central.api import gallery, public, staff
from central.api.ratelimit import SlidingWindowLimiter
from central.context import Context
from central.workflow.common import Conflict, Forbidden, NotFound, WorkflowError
from jaywatch import wire

STATUS = {NotFound: 404, Conflict: 409, Forbidden: 403}


def create_app(
    ctx: Context,
    announce_gallery: Callable[[wire.GalleryAnnouncement], None] | None = None,
) -> FastAPI:
    """``announce_gallery`` publishes a new gallery version (retained MQTT) after a snapshot
    upload or an erasure;
    ``central serve`` passes ``central.gallery.publish_retained`` bound to its broker."""
    app = FastAPI(
        title="jaywatch central",
        version="1",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.announce_gallery = announce_gallery
    app.state.public_limiter = SlidingWindowLimiter(ctx.config.api.public_rate_per_minute)
    app.include_router(staff.router)
    app.include_router(public.router)
    app.include_router(gallery.router)

    @app.exception_handler(WorkflowError)
    async def _workflow(_r: Request, exc: WorkflowError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=STATUS.get(type(exc), 400))

    @app.exception_handler(ValueError)
    async def _invalid(_r: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    from central.web import mount_web  # console, display screens and notice pages

    mount_web(app, ctx)
    return app
