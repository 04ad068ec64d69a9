"""What the web routes share: the central Context, templates, the display hub, limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from central.context import Context
from central.display.hub import DisplayHub
from central.web.ratelimit import RateLimiter

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES = WEB_DIR / "templates"
STATIC = WEB_DIR / "static"


@dataclass
class WebState:
    ctx: Context
    templates: Jinja2Templates
    hub: DisplayHub
    limiter: RateLimiter


def web_state(request: Request) -> WebState:
    state = getattr(request.app.state, "jaywatch_web", None)
    if state is None:
        raise RuntimeError("central.web: mount_web(app, ctx) was not called on this app")
    return state
