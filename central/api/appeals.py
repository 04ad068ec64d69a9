"""Appeal endpoints for supervisors: the open appeals, one appeal with its attachments,
taking it under review, the decision. Each calls central/workflow/appeals.py, as the
console's appeal pages do."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Response

from central import audit
from central.api import schemas as S
from central.api.deps import get_ctx, require
from central.context import Context
from central.store.models import Appeal, Fine
from central.workflow import appeals
from central.workflow.common import Actor, NotFound

router = APIRouter(prefix="/api", tags=["appeals"])
Ctx = Annotated[Context, Depends(get_ctx)]
AppealId = Annotated[int, Path(ge=1, le=2**31 - 1)]

Supervisor = Annotated[Actor, Depends(require(*appeals.APPEAL_DECIDE_ROLES))]


def appeal_out(s: sa.orm.Session, a: Appeal) -> S.AppealOut:
    """One appeal as the API shows it (to staff and, for their own fine, to the holder)."""
    ref = s.execute(sa.select(Fine.reference).where(Fine.id == a.fine_id)).scalar_one()
    (v,) = appeals.view_appeals(s, [a])
    return S.AppealOut(
        id=a.id, fine_reference=ref, submitted=a.submitted, grounds=a.grounds, status=a.status,
        state=v.state, level=a.level, parent_id=a.parent_id, reasons=a.note or "",
        decided_at=a.decided_at, new_due=a.new_due,
        attachments=[
            S.AttachmentOut(
                position=f.position, filename=f.filename, media_type=f.media_type, size=f.size,
                original_sha256=f.original_sha256, width=f.width, height=f.height, pages=f.pages,
            )
            for f in v.attachments
        ],
    )  # fmt: skip


@router.get("/appeals", response_model=list[S.AppealOut], tags=["appeals"])
def list_appeals(ctx: Ctx, actor: Supervisor) -> list[S.AppealOut]:
    """Submitted and under-review appeals, oldest first."""
    with ctx.sessions.begin() as s:
        return [appeal_out(s, a) for a in appeals.open_appeals(s, actor)]


@router.get("/appeals/{appeal_id}", response_model=S.AppealOut, tags=["appeals"])
def get_appeal(appeal_id: AppealId, ctx: Ctx, actor: Supervisor) -> S.AppealOut:
    with ctx.sessions.begin() as s:
        a = s.get(Appeal, appeal_id)
        if a is None:
            raise NotFound(f"appeal {appeal_id}: not found")
        audit.record(s, actor.label, "appeal.read", f"appeal:{appeal_id}")
        return appeal_out(s, a)


@router.get("/appeals/{appeal_id}/attachments/{position}", tags=["appeals"])
def appeal_attachment(
    appeal_id: AppealId,
    position: Annotated[int, Path(ge=1, le=100)],
    ctx: Ctx,
    actor: Supervisor,
) -> Response:
    """The file as stored (a photo re-encoded, a PDF as sent), always as a download."""
    with ctx.sessions.begin() as s:
        row, data = appeals.attachment_bytes(s, ctx.evidence, appeal_id, position)
        audit.record(
            s, actor.label, "appeal.attachment.read", f"appeal:{appeal_id}", {"n": position}
        )
        return Response(
            data, media_type=row.media_type, headers=appeals.download_headers(row, inline=False)
        )


@router.post("/appeals/{appeal_id}/review", response_model=S.AppealOut, tags=["appeals"])
def review_appeal(appeal_id: AppealId, ctx: Ctx, actor: Supervisor) -> S.AppealOut:
    """Take a submitted appeal under review (the person sees it)."""
    with ctx.sessions.begin() as s:
        return appeal_out(s, appeals.start_review(s, actor, appeal_id))


@router.post("/appeals/{appeal_id}/decide", response_model=S.AppealOut, tags=["appeals"])
def decide(appeal_id: AppealId, body: S.DecideIn, ctx: Ctx, actor: Supervisor) -> S.AppealOut:
    """Uphold (fine void, points restored) or deny (new due date); reasons required."""
    with ctx.sessions.begin() as s:
        a = appeals.decide_appeal(s, actor, ctx.rules, appeal_id, body.uphold, body.note)
        return appeal_out(s, a)
