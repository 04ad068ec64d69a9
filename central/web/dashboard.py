"""Console dashboard: tiles, charts (server-side SVG, central/plots/svg.py), per-operator
workload and the CSV exports, for a date range and a camera. Numbers come from
central.workflow.dashboard; the API (central/api/dashboard.py) calls the same functions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from central.plots import svg
from central.web.auth import WebUser, require
from central.web.pages import PageRoute
from central.web.state import WebState, web_state
from central.workflow import dashboard as dash
from central.workflow import exports

CAMERA_SERIES = ("confirmed", "voided", "dismissed", "pending_review", "unidentified")
SCORE_SERIES = ("confirmed", "dismissed", "pending_review")
router = APIRouter(prefix="/console", tags=["console"], route_class=PageRoute)

DateText = Annotated[str | None, Query(max_length=10, alias="from")]
ToText = Annotated[str | None, Query(max_length=10)]
CameraText = Annotated[str | None, Query(max_length=129)]


def _bin_label(b: dash.Bin, tl: dash.Timeline) -> str:
    if tl.unit == "hour":
        return b.start.strftime("%d %b %H:00")
    return b.start.strftime("%d %b")


def _list_for(status: str) -> str:
    """Unidentified events have their own list; waiting and decided ones are the queue's
    (its history is the queue with a decided status)."""
    return "/console/unidentified?" if status == "unidentified" else "/console/queue?"


def _list_status(status: str) -> str:
    return "" if status == "unidentified" else status


def _timeline_bars(tl: dash.Timeline, period: dash.Period, linked: bool) -> list[svg.Bar]:
    bars = []
    for b in tl.bins:
        sub = dash.Period(b.start, b.end, period.camera)
        # The lists filter by whole days: an hour bar opens its day's list.
        hrefs = {s: _list_for(s) + sub.list_query(status=_list_status(s)) for s in tl.statuses}
        when = b.start.strftime("%Y-%m-%d %H:00" if tl.unit == "hour" else "%Y-%m-%d")
        title = f"{'week of ' if tl.unit == 'week' else ''}{when} UTC"
        bars.append(svg.Bar(_bin_label(b, tl), b.counts, hrefs if linked else {}, title))
    return bars


def _camera_bars(rows: list[dash.CameraRow], period: dash.Period, linked: bool) -> list[svg.Bar]:
    out = []
    for r in rows:
        p = dash.Period(period.start, period.end, r.camera)
        hrefs = {
            "confirmed": f"/console/queue?{p.list_query(status='confirmed')}",
            "dismissed": f"/console/queue?{p.list_query(status='dismissed')}",
            "voided": f"/console/queue?{p.list_query(status='confirmed', fine='void')}",
            "pending_review": f"/console/queue?{p.list_query(status='pending_review')}",
            "unidentified": f"/console/unidentified?{p.list_query()}",
        }
        out.append(svg.Bar(r.camera, r.counts, hrefs if linked else {}, r.camera))
    return out


def _score_bars(bins: list[dash.ScoreBin], period: dash.Period, linked: bool) -> list[svg.Bar]:
    out = []
    for b in bins:
        band = {"score_min": f"{b.lo:.2f}", "score_max": f"{b.hi:.2f}"}
        hrefs = {s: _list_for(s) + period.list_query(status=s, **band) for s in SCORE_SERIES}
        out.append(svg.Bar(b.label, b.counts, hrefs if linked else {}, f"score {b.label}"))
    return out


def _link_hint(bars_linked: bool, tiles: list[dash.Tile]) -> str:
    """The sentence that tells what on the page opens a list — only what this viewer
    really gets: auditors get no link at all and admins only the quarantine tile, so
    "a tile or a bar opens the list behind it" would be untrue for them."""
    if bars_linked:
        return "A tile or a bar opens the list behind it."
    linked = [t.label for t in tiles if t.href]
    if not linked:
        return ""
    names = ", ".join(f"“{label}”" for label in linked)
    if len(linked) == 1:
        return f"The {names} tile opens the list behind it."
    return f"The {names} tiles open the lists behind them."


@router.get("/dashboard")
def dashboard_page(
    *,
    request: Request,
    from_: DateText = None,
    to: ToText = None,
    camera: CameraText = None,
    user: Annotated[WebUser, Depends(require(*dash.VIEW_ROLES))],
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    error = None
    try:
        period = dash.parse_period(from_, to, camera)
    except ValueError as e:
        error, period = str(e), dash.parse_period(None, None)
    actor = user.actor
    # Bar segments link into the queue only for those who may open it (dash.may_open).
    linked = dash.may_open(actor, "/console/queue")
    with st.ctx.sessions() as s:
        tiles = dash.tiles(s, actor, period)
        tl = dash.timeline(s, actor, period)
        cams = dash.per_camera(s, actor, period)
        scores = dash.score_histogram(s, actor, period)
        loads = dash.workload(s, actor, period) if actor.role in dash.WORKLOAD_ROLES else None
        camera_choices = dash.cameras(s)
    ctx: dict[str, Any] = {
        "user": user,
        "error": error,
        "period": period,
        "tiles": tiles,
        "timeline": tl,
        "timeline_svg": svg.stacked_bars(
            _timeline_bars(tl, period, linked), tl.statuses,
            f"Violations per {tl.unit} by outcome", f"events per {tl.unit}",
        ),
        "cameras": cams,
        "camera_svg": svg.stacked_bars(
            _camera_bars(cams, period, linked), CAMERA_SERIES,
            "Violations per camera by outcome", "events", max_labels=12,
        ),
        "camera_links": {
            r.camera: dash.Period(period.start, period.end, r.camera).query() for r in cams
        },
        "scores": scores,
        "score_svg": svg.stacked_bars(
            _score_bars(scores, period, linked), SCORE_SERIES,
            "Match scores by outcome", "events", max_labels=10,
        ),
        "legend": svg.legend(dash.TIMELINE_STATUSES),
        "camera_legend": svg.legend(CAMERA_SERIES),
        "score_legend": svg.legend(SCORE_SERIES),
        "loads": loads,
        "camera_choices": camera_choices,
        "can_export": actor.role in exports.EXPORT_ROLES,
        "link_hint": _link_hint(linked, tiles),
    }  # fmt: skip
    resp = st.templates.TemplateResponse(request, "dashboard.html", ctx)
    if error:
        resp.status_code = 422
    return resp


@router.get("/exports/{kind}.csv")
def export(
    *,
    kind: str,
    from_: DateText = None,
    to: ToText = None,
    camera: CameraText = None,
    user: Annotated[WebUser, Depends(require(*exports.EXPORT_ROLES))],
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    """Events or fines of the period as CSV, streamed (no personal data; audited)."""
    period = dash.parse_period(from_, to, camera)
    lines = exports.export_csv(st.tx, st.ctx.sessions, user.actor, kind, period)
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{exports.filename(kind, period)}"',
            "Cache-Control": "private, no-store",
        },
    )
