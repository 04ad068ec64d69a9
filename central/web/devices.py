"""Console devices page: per camera actual vs target fps, signal, checks, the reason a
device or camera is down, an 8-hour fps sparkline (central.workflow.devices keeps the
history in the stored heartbeat) and a refresh every 15 s (static/devices.js, can be
paused: WCAG 2.2.2)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from central.plots import svg
from central.store.models import utcnow
from central.web.auth import WebUser, require
from central.web.pages import PageRoute
from central.web.state import WebState, web_state
from central.workflow import devices as wd

router = APIRouter(prefix="/console", tags=["console"], route_class=PageRoute)
VIEW_ROLES = wd.VIEW_ROLES


@router.get("/devices")
def devices_page(
    *,
    request: Request,
    user: Annotated[WebUser, Depends(require(*VIEW_ROLES))],
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    now = utcnow()
    with st.ctx.sessions() as s:
        devs = wd.list_devices(s)
        snaps = wd.snapshot_views(s)
        s.expunge_all()
    views = {d.id: wd.camera_views(d.status) for d in devs}
    sparks = {
        (d.id, c.camera_id): svg.sparkline(
            wd.fps_history(d.status, c.camera_id), f"{d.id}/{c.camera_id} fps, last 8 hours"
        )
        for d in devs
        for c in views[d.id]
    }
    return st.templates.TemplateResponse(
        request,
        "devices.html",
        {
            "user": user,
            "devices": devs,
            "views": views,
            "check_titles": wd.CHECK_TITLES,
            "reasons": {d.id: wd.down_reason(d, now) for d in devs},
            "online_share": {d.id: wd.online_share(d.status) for d in devs},
            "sparks": sparks,
            "snaps": snaps,
            "snapshot_min_interval_s": st.ctx.config.ingest.snapshot_min_interval_s,
            "snap_age": {k: wd.age_text((now - v.taken).total_seconds()) for k, v in snaps.items()},
            "now": now,
        },
    )
