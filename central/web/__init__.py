"""Server-rendered web pages of the central service: operator console, public display
screens and the citizen notice page. ``mount_web(app, ctx)`` adds them to a FastAPI app."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from central.context import Context
from central.display.hub import DisplayHub, Publisher
from central.fines import format_money
from central.frontdoor import install as install_frontdoor
from central.web.labels import label
from central.web.state import STATIC, TEMPLATES, WebState

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Everything is served from here: no CDN, no inline scripts.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self' data:; style-src 'self'; "
        "script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
}


def _templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(TEMPLATES))
    # gettext for {% trans %} / _(): English by default; the citizen pages pass their
    # language's catalog in the template context (central/web/i18n.py)
    t.env.add_extension("jinja2.ext.i18n")
    t.env.install_null_translations()  # type: ignore[attr-defined]
    t.env.globals["fmt_time"] = lambda d: d.strftime("%Y-%m-%d %H:%M:%S UTC") if d else "—"
    t.env.globals["money"] = format_money
    t.env.globals["label"] = label
    return t


def mount_web(
    app: FastAPI,
    ctx: Context,
    publish_mqtt: bool = False,
    publisher: Publisher | None = None,
    poll_s: float = 0.5,
) -> WebState:
    """Add console (/console), display (/display) and notice (/notice) pages to ``app``.

    ``publish_mqtt=True`` also publishes every screen's feed, retained, on its MQTT
    display topic (broker from ``ctx.config.mqtt``) and starts the display hub now, so
    LED signs get updates with no browser connected (``publisher`` replaces the MQTT
    publisher, e.g. in tests). Otherwise the hub starts with the first screen.
    """
    existing = getattr(app.state, "jaywatch_web", None)
    if existing is not None:  # mounted already (e.g. by central.api.app.create_app)
        return existing
    if publish_mqtt and publisher is None:
        from central.display.mqtt import DisplayMqttPublisher

        publisher = DisplayMqttPublisher(ctx.config.mqtt)
    from central.display.routes import router as display_router
    from central.web.appeals import router as appeals_router
    from central.web.audit import router as audit_router
    from central.web.auth import NeedLogin
    from central.web.citizen import links as citizen_links
    from central.web.citizen import router as citizen_router
    from central.web.dashboard import router as dashboard_router
    from central.web.deadletters import router as deadletters_router
    from central.web.devices import router as devices_router
    from central.web.errors import install as install_error_pages
    from central.web.events import router as events_router
    from central.web.login import router as login_router
    from central.web.preferences import router as preferences_router
    from central.web.queue import router as queue_router

    state = WebState(
        ctx=ctx,
        templates=_templates(),
        hub=DisplayHub(ctx.sessions, ctx.rules.schedule, poll_s=poll_s, publisher=publisher),
    )
    app.state.jaywatch_web = state
    if publisher is not None:
        state.hub.start()
    # Pages, not API: kept out of the OpenAPI document the API is tested against.
    routers = (
        queue_router,
        login_router,  # the console's: one router per resource, in the old order
        events_router,
        appeals_router,
        dashboard_router,
        audit_router,
        deadletters_router,
        devices_router,
        preferences_router,
    )
    for router in (*routers, display_router, citizen_router, citizen_links):
        app.include_router(router, include_in_schema=False)
    app.mount("/web/static", StaticFiles(directory=str(STATIC)), name="jaywatch-static")

    install_error_pages(app)

    @app.exception_handler(NeedLogin)
    async def _login(request: Request, exc: NeedLogin) -> Response:
        return RedirectResponse(f"/console/login?next={quote(exc.next_url)}", status_code=303)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        resp = await call_next(request)
        path = request.url.path
        if path.startswith(("/console", "/display", "/notice", "/web/")):
            for k, v in SECURITY_HEADERS.items():
                resp.headers.setdefault(k, v)
        return resp

    # Body limits, trusted proxies, the shared throttle: outside everything above.
    install_frontdoor(app, ctx)
    return state


def publish_display_on_mqtt(app: FastAPI) -> None:
    """Also publish every screen's feed, retained, on its MQTT display topic (broker from
    the central config) and start the hub now, so LED signs update with no browser open.
    For ``central serve``; ``mount_web`` must have been called on ``app``."""
    from central.display.mqtt import DisplayMqttPublisher

    state: WebState = app.state.jaywatch_web
    state.hub.publisher = DisplayMqttPublisher(state.ctx.config.mqtt)
    state.hub.start()
