"""What the web routes share: the central Context, templates, the display hub (the
throttle is the front door's: central.frontdoor)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from central.context import Context
from central.display.hub import DisplayHub

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES = WEB_DIR / "templates"
STATIC = WEB_DIR / "static"


@dataclass
class WebState:
    ctx: Context
    templates: Jinja2Templates
    hub: DisplayHub
    _write_lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def tx(self) -> Iterator[Session]:
        """A write transaction. On SQLite, one at a time per process: its deferred BEGIN
        fails at once (SQLITE_BUSY, no busy wait) when two transactions that have read
        both try to write — e.g. the evidence images of one page, each audited."""
        if self.ctx.engine.dialect.name != "sqlite":
            with self.ctx.sessions.begin() as s:
                yield s
            return
        with self._write_lock, self.ctx.sessions.begin() as s:
            yield s


def web_state(request: Request) -> WebState:
    state = getattr(request.app.state, "jaywatch_web", None)
    if state is None:
        raise RuntimeError("central.web: mount_web(app, ctx) was not called on this app")
    return state
