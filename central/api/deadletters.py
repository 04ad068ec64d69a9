"""Dead letters and quarantined events over the API (the console's page is
central/web/deadletters.py); every action through central.workflow.deadletters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from central.api import schemas as S
from central.api.deps import get_ctx, require
from central.context import Context
from central.workflow import deadletters as dl
from central.workflow import review
from central.workflow.common import Actor

router = APIRouter(prefix="/api", tags=["audit"])
Ctx = Annotated[Context, Depends(get_ctx)]
Limit = Annotated[int, Query(ge=1, le=1000)]
DlId = Annotated[int, Path(ge=1, le=2**31 - 1)]
EventId = Annotated[str, Path(max_length=64)]
Admin = Annotated[Actor, Depends(require(*dl.ACT_ROLES))]


class NoteIn(BaseModel):
    model_config = {"extra": "forbid"}
    note: str = Field("", max_length=500)


class RequeueOut(BaseModel):
    outcome: str  # stored | duplicate | status


class ReleaseOut(BaseModel):
    status: str  # pending_review | unidentified


@router.get("/dead-letters", response_model=list[S.DeadLetterOut])
def dead_letters(
    ctx: Ctx, actor: Annotated[Actor, Depends(require(*dl.LIST_ROLES))], limit: Limit = 100
) -> list[S.DeadLetterOut]:
    with ctx.sessions.begin() as s:
        return [
            S.DeadLetterOut(
                id=v.id, received=v.received, topic=v.topic, reason=v.reason, size=v.size,
                sha256=v.sha256, raw_preview=v.preview, messages=v.messages,
                coalesced=v.coalesced, group=v.group, last_received=v.last_received,
                device_id=v.device_id, requeueable=v.complete,
            )
            for v in dl.list_dead_letters(s, actor, limit)
        ]  # fmt: skip


@router.post("/dead-letters/{dl_id}/requeue", response_model=RequeueOut)
def requeue(dl_id: DlId, ctx: Ctx, actor: Admin) -> RequeueOut:
    """Ingest the kept bytes again (409 if they were cut, coalesced or are still refused)."""
    with ctx.sessions.begin() as s:
        return RequeueOut(outcome=dl.requeue_dead_letter(s, actor, ctx, dl_id))


@router.post("/dead-letters/{dl_id}/discard", status_code=204)
def discard(dl_id: DlId, body: NoteIn, ctx: Ctx, actor: Admin) -> None:
    with ctx.sessions.begin() as s:
        dl.discard_dead_letter(s, actor, dl_id, body.note)


@router.get("/quarantine", response_model=list[S.QuarantinedOut], tags=["review"])
def quarantine(
    ctx: Ctx,
    actor: Annotated[Actor, Depends(require(*review.QUARANTINE_ROLES))],
    limit: Limit = 100,
) -> list[S.QuarantinedOut]:
    """Events whose ``occurred`` was outside the window around receipt: stored, never
    queued for review, never fined (until an admin releases one)."""
    with ctx.sessions.begin() as s:
        return [
            S.QuarantinedOut.of(q.item, reason=q.reason)
            for q in review.quarantined(s, actor, limit)
        ]


@router.post("/quarantine/{event_id}/release", response_model=ReleaseOut, tags=["review"])
def release(event_id: EventId, body: NoteIn, ctx: Ctx, actor: Admin) -> ReleaseOut:
    """Into review (if matched to a person still enrolled) or the unidentified list; the
    note (why the time can be trusted) is required."""
    with ctx.sessions.begin() as s:
        return ReleaseOut(status=dl.release_quarantined(s, actor, event_id, body.note))


@router.post("/quarantine/{event_id}/discard", status_code=204, tags=["review"])
def discard_event(event_id: EventId, body: NoteIn, ctx: Ctx, actor: Admin) -> None:
    with ctx.sessions.begin() as s:
        dl.discard_quarantined(s, actor, event_id, body.note)
