"""The FastAPI application: ``create_app(ctx)``; OpenAPI at /api/openapi.json."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel

from central.api import (
    appeals,
    audit,
    dashboard,
    deadletters,
    devices,
    events,
    gallery,
    login,
    payments,
    persons,
    public,
    queue,
)
from central.context import Context
from central.evidence.metrics import REGISTRY, IntegrityCollector, figures
from central.frontdoor import install as install_frontdoor
from central.ingest.health import IngestHealth
from central.payments import load_provider
from central.payments.base import CheckoutProvider
from central.store.db import ping
from central.workflow.common import Conflict, Forbidden, NotFound, WorkflowError
from jaywatch import wire

STATUS = {NotFound: 404, Conflict: 409, Forbidden: 403}


class EvidenceHealth(BaseModel):
    """Integrity at rest: events flagged "evidence altered" and the last scrub (none: never
    ran). Reported, not counted against ``healthy``: a flagged event is a case for people,
    not a reason to take central out of a load balancer."""

    flagged_events: int
    last_scrub_finished: datetime | None = None
    last_scrub_checked: int | None = None
    last_scrub_failed: int | None = None


class Health(BaseModel):
    """``GET /api/health``: 200 when healthy, 503 when not (for load balancers/monitors)."""

    healthy: bool
    database: Literal["ok", "unavailable"]  # this process's own check (SELECT 1)
    database_error: str = ""
    ingest: IngestHealth | None = None  # the ingest worker in this process, if any
    evidence: EvidenceHealth | None = None  # None while the database is unavailable


def _evidence_health(ctx: Context) -> EvidenceHealth | None:
    try:
        f = figures(ctx.engine)
    except Exception:  # reported as the database's state already
        return None
    return EvidenceHealth(**vars(f))


def create_app(
    ctx: Context,
    announce_gallery: Callable[[wire.GalleryAnnouncement], None] | None = None,
    ingest_health: Callable[[], IngestHealth] | None = None,
    payment_provider: CheckoutProvider | Literal["config"] | None = "config",
) -> FastAPI:
    """``announce_gallery`` publishes a new gallery version (retained MQTT) after a snapshot
    upload or an erasure; ``central serve`` passes ``lambda _msg: announcer.wake()``, which
    wakes its gallery announcer to publish the newest version (retained MQTT).
    ``ingest_health``: the in-process ingest worker's ``health``, shown by /api/health.
    ``payment_provider``: the checkout provider ("config": the one ``payments.provider``
    configures, if any; raises ValueError naming the key when it cannot be loaded)."""
    # FastAPIOffline: FastAPI whose /api/docs loads Swagger UI from files shipped in the
    # fastapi-offline package (mounted at /api/docs/assets), not from a CDN: sites are
    # often offline, and plain FastAPI's page then stays blank.
    app = FastAPIOffline(
        title="jaywatch central",
        version="1",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        static_url="/api/docs/assets",
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect",
    )
    app.state.ctx = ctx
    app.state.announce_gallery = announce_gallery
    if payment_provider == "config":
        payment_provider = load_provider(ctx.config.payments)
    app.state.payment_provider = payment_provider
    # One router per resource; the order is the old staff router's (routes match in order).
    for resource in (login, events, persons, devices):
        app.include_router(resource.router)
    app.include_router(dashboard.router)
    app.include_router(appeals.router)
    app.include_router(audit.router)
    app.include_router(deadletters.router)
    app.include_router(queue.router)
    app.include_router(public.router)
    app.include_router(gallery.router)
    app.include_router(payments.router)

    @app.get("/api/health", response_model=Health, tags=["health"])
    def health() -> JSONResponse:
        """Database reachable (and the ingest worker's view, when it runs here)."""
        error = ""
        try:
            ping(ctx.engine)  # not a session: that would take SQLite's write lock
        except Exception as e:  # any failure to answer is "unavailable"
            error = f"{type(e).__name__}: {e}"[:500]
        ingest = ingest_health() if ingest_health is not None else None
        evidence = None if error else _evidence_health(ctx)
        h = Health(
            evidence=evidence,
            healthy=not error and (ingest is None or ingest.healthy),
            database="unavailable" if error else "ok",
            database_error=error,
            ingest=ingest,
        )
        return JSONResponse(h.model_dump(mode="json"), status_code=200 if h.healthy else 503)

    app.state.metrics_registry = REGISTRY
    collector = IntegrityCollector(ctx.engine)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus: evidence-altered alerts seen by this process, the last scrub and
        the events flagged (aggregates only, no personal data)."""
        reg = CollectorRegistry()
        reg.register(collector)
        body = generate_latest(REGISTRY) + generate_latest(reg)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(WorkflowError)
    async def _workflow(_r: Request, exc: WorkflowError) -> JSONResponse:
        code = next((c for t, c in STATUS.items() if isinstance(exc, t)), 400)
        return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.exception_handler(ValueError)
    async def _invalid(_r: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)[:1000]}, status_code=422)  # bounded echo

    from central.web import mount_web  # console, display screens and notice pages

    mount_web(app, ctx)
    install_frontdoor(app, ctx)  # done by mount_web already; outermost layers (idempotent)
    return app
