"""Dashboard figures and the statistics exports over the API: the same workflow
functions as the console's dashboard (central/web/dashboard.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from central.api.deps import get_ctx, require
from central.context import Context
from central.workflow import dashboard as dash
from central.workflow import exports
from central.workflow.common import Actor

router = APIRouter(prefix="/api", tags=["dashboard"])
Ctx = Annotated[Context, Depends(get_ctx)]
From = Annotated[str | None, Query(max_length=10, alias="from", description="YYYY-MM-DD (UTC)")]
To = Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD (UTC), inclusive")]
Camera = Annotated[str | None, Query(max_length=129, description="DEVICE/CAMERA")]


class TileOut(BaseModel):
    key: str
    label: str
    count: int
    href: str
    scope: str


class BinOut(BaseModel):
    start: datetime
    end: datetime
    counts: dict[str, int]


class CameraOut(BaseModel):
    camera: str
    counts: dict[str, int]
    rejected_share: float | None


class ScoreBinOut(BaseModel):
    lo: float
    hi: float
    counts: dict[str, int]


class OperatorOut(BaseModel):
    username: str
    decisions: int
    confirmed: int
    dismissed: int
    decisions_per_day: float
    median_decide_s: float | None
    second_reviewed: int  # first confirmations a second reviewer has decided
    second_rejected: int  # of which the second reviewer rejected


class DashboardOut(BaseModel):
    start: datetime
    end: datetime
    camera: str | None
    tiles: list[TileOut]
    unit: str
    timeline: list[BinOut]
    cameras: list[CameraOut]
    scores: list[ScoreBinOut]
    workload: list[OperatorOut] | None  # null for roles that may not see it


@router.get("/dashboard", response_model=DashboardOut)
def dashboard(
    ctx: Ctx,
    actor: Annotated[Actor, Depends(require(*dash.VIEW_ROLES))],
    from_: From = None,
    to: To = None,
    camera: Camera = None,
) -> DashboardOut:
    """The console dashboard's figures for ``from``..``to`` and one camera or all."""
    p = dash.parse_period(from_, to, camera)
    with ctx.sessions() as s:
        tl = dash.timeline(s, actor, p)
        loads = dash.workload(s, actor, p) if actor.role in dash.WORKLOAD_ROLES else None
        return DashboardOut(
            start=p.start,
            end=p.end,
            camera=p.camera,
            tiles=[TileOut(**t.__dict__) for t in dash.tiles(s, actor, p)],
            unit=tl.unit,
            timeline=[BinOut(start=b.start, end=b.end, counts=b.counts) for b in tl.bins],
            cameras=[
                CameraOut(camera=r.camera, counts=r.counts, rejected_share=r.rejected_share)
                for r in dash.per_camera(s, actor, p)
            ],
            scores=[ScoreBinOut(lo=b.lo, hi=b.hi, counts=b.counts)
                    for b in dash.score_histogram(s, actor, p)],
            workload=None if loads is None else [
                OperatorOut(
                    username=o.username, decisions=o.decisions, confirmed=o.confirmed,
                    dismissed=o.dismissed, decisions_per_day=o.decisions_per_day(p.days),
                    median_decide_s=o.median_decide_s, second_reviewed=o.second_reviewed,
                    second_rejected=o.second_rejected,
                )
                for o in loads
            ],
        )  # fmt: skip


@router.get(
    "/exports/{kind}.csv",
    responses={200: {"content": {"text/csv": {}}}},
    response_class=StreamingResponse,
)
def export(
    kind: Annotated[str, Path(pattern="^(events|fines)$")],
    ctx: Ctx,
    actor: Annotated[Actor, Depends(require(*exports.EXPORT_ROLES))],
    from_: From = None,
    to: To = None,
    camera: Camera = None,
) -> StreamingResponse:
    """Events or fines of the period as CSV for statistics, streamed; no names, phones,
    person ids, fine references or operator names. Audited (``export.events|fines``)."""
    p = dash.parse_period(from_, to, camera)
    lines = exports.export_csv(ctx.sessions.begin, ctx.sessions, actor, kind, p)
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{exports.filename(kind, p)}"',
            "Cache-Control": "no-store",
        },
    )
