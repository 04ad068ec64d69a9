"""The FastAPI application: ``create_app(ctx)``; OpenAPI at /api/openapi.json."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from central.api import gallery, public, staff
from central.context import Context
from central.frontdoor import install as install_frontdoor
from central.ingest.health import IngestHealth
from central.store.db import ping
from central.workflow.common import Conflict, Forbidden, NotFound, WorkflowError
from jaywatch import wire

STATUS = {NotFound: 404, Conflict: 409, Forbidden: 403}


class Health(BaseModel):
    """``GET /api/health``: 200 when healthy, 503 when not (for load balancers/monitors)."""

    healthy: bool
    database: Literal["ok", "unavailable"]  # this process's own check (SELECT 1)
    database_error: str = ""
    ingest: IngestHealth | None = None  # the ingest worker in this process, if any


def create_app(
    ctx: Context,
    announce_gallery: Callable[[wire.GalleryAnnouncement], None] | None = None,
    ingest_health: Callable[[], IngestHealth] | None = None,
) -> FastAPI:
    """``announce_gallery`` publishes a new gallery version (retained MQTT) after a snapshot
    upload or an erasure; ``central serve`` passes ``lambda _msg: announcer.wake()``, which
    wakes its gallery announcer to publish the newest version (retained MQTT).
    ``ingest_health``: the in-process ingest worker's ``health``, shown by /api/health."""
    app = FastAPI(
        title="jaywatch central",
        version="1",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.announce_gallery = announce_gallery
    app.include_router(staff.router)
    app.include_router(public.router)
    app.include_router(gallery.router)

    @app.get("/api/health", response_model=Health, tags=["health"])
    def health() -> JSONResponse:
        """Database reachable (and the ingest worker's view, when it runs here)."""
        error = ""
        try:
            ping(ctx.engine)  # not a session: that would take SQLite's write lock
        except Exception as e:  # any failure to answer is "unavailable"
            error = f"{type(e).__name__}: {e}"[:500]
        ingest = ingest_health() if ingest_health is not None else None
        h = Health(
            healthy=not error and (ingest is None or ingest.healthy),
            database="unavailable" if error else "ok",
            database_error=error,
            ingest=ingest,
        )
        return JSONResponse(h.model_dump(mode="json"), status_code=200 if h.healthy else 503)

    @app.exception_handler(WorkflowError)
    async def _workflow(_r: Request, exc: WorkflowError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=STATUS.get(type(exc), 400))

    @app.exception_handler(ValueError)
    async def _invalid(_r: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)[:1000]}, status_code=422)  # bounded echo

    from central.web import mount_web  # console, display screens and notice pages

    mount_web(app, ctx)
    install_frontdoor(app, ctx)  # done by mount_web already; outermost layers (idempotent)
    return app
