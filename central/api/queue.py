"""Review queue endpoints: filtered keyset pages, history, claims, and unidentified
violations (statistics, bulk dismissal). The same workflow as the console's queue pages
(central.workflow.queue / .claims)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from central.api import schemas as S
from central.api.deps import get_ctx, request_token, require
from central.context import Context
from central.store.models import Event
from central.workflow import claims, review
from central.workflow import queue as wq
from central.workflow import queue_stream as qs
from central.workflow.common import Actor

router = APIRouter(prefix="/api", tags=["review"])
Ctx = Annotated[Context, Depends(get_ctx)]
Reviewer = Annotated[Actor, Depends(require(*wq.QUEUE_ROLES))]
Operator = Annotated[Actor, Depends(require(*claims.CLAIM_ROLES))]
Score = Annotated[float | None, Query(ge=-1.0, le=1.0)]


class ClaimOut(BaseModel):
    event_id: str
    claimed_by: str
    until: datetime


class QueueItemOut(BaseModel):
    event_id: str
    device_id: str
    camera_id: str
    place: str
    occurred: datetime
    received: datetime
    offence_code: str
    status: str
    reason_code: str | None
    matched: bool
    match_person_id: str | None
    match_score: float | None
    red_for_s: float | None
    evidence_altered: bool
    decided_by: str | None
    decided_at: datetime | None
    fine_reference: str | None
    claim: ClaimOut | None


class QueuePageOut(BaseModel):
    items: list[QueueItemOut]
    total: int = Field(description="events matching the filter, on all pages")
    next_cursor: str | None = Field(description="pass as `after` for the next page; null: last")


class UnidentifiedOut(BaseModel):
    total: int
    oldest: datetime | None
    newest: datetime | None
    altered: int
    dismissed: int
    by_camera: list[tuple[str, str, int]]
    by_day: list[tuple[date, int]]


class BulkDismissIn(BaseModel):
    reason: Literal[wq.UNIDENTIFIED_REASONS]  # type: ignore[valid-type]
    note: str = Field("", max_length=500)
    device_id: str | None = Field(None, max_length=64)
    camera_id: str | None = Field(None, max_length=64)
    date_from: date | None = None
    date_to: date | None = None


class BulkDismissOut(BaseModel):
    dismissed: int
    remaining: int


def _claim_out(c: claims.ClaimView | None) -> ClaimOut | None:
    return (
        None
        if c is None
        else ClaimOut(event_id=c.event_id, claimed_by=c.holder_name, until=c.expires)
    )


def queue_filter(
    status: Literal[tuple(wq.STATUS_GROUPS)] = "pending_review",  # type: ignore[valid-type]
    device_id: Annotated[str | None, Query(max_length=64, description="site (gateway)")] = None,
    camera_id: Annotated[str | None, Query(max_length=64)] = None,
    date_from: date | None = None,
    date_to: date | None = None,
    matched: Literal["any", "matched", "unidentified"] = "any",
    score_min: Score = None,
    score_max: Score = None,
    altered: Literal["any", "yes", "no"] = "any",
    fine: Literal[wq.FINE_FILTERS] = "any",  # type: ignore[valid-type]
    q: Annotated[str, Query(max_length=200, description="event id, fine reference, person")] = "",
    sort: Literal[wq.SORTS] = "oldest",  # type: ignore[valid-type]
) -> wq.QueueFilter:
    return wq.QueueFilter(
        status=status, device_id=device_id, camera_id=camera_id, date_from=date_from,
        date_to=date_to, matched=matched, score_min=score_min, score_max=score_max,
        altered=altered, fine=fine, q=q, sort=sort,
    )  # fmt: skip


Filter = Annotated[wq.QueueFilter, Depends(queue_filter)]


@router.get("/review/queue", response_model=list[S.EventOut])
def review_queue(
    ctx: Ctx, actor: Reviewer, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[S.EventOut]:
    """The oldest waiting cases with their evidence roles (the first API; ``/api/queue``
    filters, sorts and pages)."""
    with ctx.sessions.begin() as s:
        return [S.EventOut.of(i) for i in review.review_queue(s, actor, limit)]


@router.get("/queue", response_model=QueuePageOut)
def list_queue(
    ctx: Ctx,
    actor: Reviewer,
    f: Filter,
    after: Annotated[str | None, Query(max_length=200, description="cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=wq.MAX_PAGE)] = 50,
) -> QueuePageOut:
    """One keyset page of the queue (``status=decided&sort=decided``: the history)."""
    with ctx.sessions.begin() as s:
        page = wq.list_queue(s, actor, f, cursor=after, limit=limit)
    items = [
        QueueItemOut(**{k: v for k, v in vars(r).items() if k not in ("pk", "claim")},
                     claim=_claim_out(r.claim))
        for r in page.rows
    ]  # fmt: skip
    return QueuePageOut(items=items, total=page.total, next_cursor=page.next_cursor)


STREAM_DOC = {
    200: {
        "description": (
            "Server-Sent Events (text/event-stream). `event: ready` once the baseline is "
            "taken (fetch `GET /api/queue` then), `event: queue` whenever a new event, a "
            "decision or a claim changes the queue; `data` is JSON "
            '`{"waiting": n, "claims": n}`, `id` a digest of the queue\'s state. Reconnect '
            "with `Last-Event-ID`: a change missed while away is sent right after `ready`. "
            f"The stream ends after {qs.STREAM_FOR_S:.0f} s (reconnect; the token is "
            f"checked again); a `: keepalive` comment comes every {qs.KEEPALIVE_S:.0f} s."
        ),
        "content": {qs.MEDIA_TYPE: {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/queue/stream",
    response_class=StreamingResponse,
    responses={**STREAM_DOC, 429: {"description": "too many live streams (account/server)"}},
)
async def queue_stream(
    request: Request,
    ctx: Ctx,
    actor: Reviewer,
    last_event_id: Annotated[str | None, Header(max_length=qs.MAX_EVENT_ID)] = None,
) -> StreamingResponse:
    """Live push for API clients: the console's queue refresh (same database fingerprint,
    polled each second, so it works across several `central serve`), with the API's own
    auth (bearer token; the roles that may read the queue). It says that the queue
    changed, never which case: re-read `GET /api/queue` with your filters."""
    token, _cookie = request_token(request)
    try:
        return qs.stream_response(
            ctx.sessions, actor, token or "", wq.QUEUE_ROLES, request.is_disconnected,
            last_event_id,
        )  # fmt: skip
    except qs.TooManyStreams as e:
        raise HTTPException(429, str(e), {"Retry-After": "60"}) from None


@router.post("/queue/next", response_model=ClaimOut | None)
def next_case(ctx: Ctx, actor: Operator) -> ClaimOut | None:
    """Claim the oldest waiting case nobody else holds (null: none left)."""
    with ctx.sessions.begin() as s:
        eid = wq.next_case(s, actor)
        if eid is None:
            return None
        ev = s.execute(sa.select(Event).where(Event.event_id == eid)).scalar_one()
        return _claim_out(claims.current(s, ev))


@router.post("/events/{event_id}/claim", response_model=ClaimOut)
def claim(event_id: str, ctx: Ctx, actor: Operator) -> ClaimOut:
    """Take or renew the claim (409 naming the holder while someone else has it)."""
    with ctx.sessions.begin() as s:
        out = _claim_out(claims.claim(s, actor, event_id))
    assert out is not None
    return out


@router.delete("/events/{event_id}/claim", status_code=204)
def release(event_id: str, ctx: Ctx, actor: Operator) -> None:
    with ctx.sessions.begin() as s:
        claims.release(s, actor, event_id)


@router.get("/unidentified", response_model=UnidentifiedOut)
def unidentified(ctx: Ctx, actor: Reviewer, f: Filter) -> UnidentifiedOut:
    """Counts of violations nobody was identified for (no images, no person)."""
    with ctx.sessions() as s:
        st = wq.unidentified_stats(s, actor, f)
    return UnidentifiedOut(**vars(st))


@router.post("/unidentified/dismiss", response_model=BulkDismissOut)
def dismiss_unidentified(
    body: BulkDismissIn,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(require(*wq.BULK_ROLES))],
) -> BulkDismissOut:
    """Dismiss the selected unidentified violations (at most 5000 a call), audited."""
    f = wq.QueueFilter(
        device_id=body.device_id, camera_id=body.camera_id,
        date_from=body.date_from, date_to=body.date_to,
    )  # fmt: skip
    with ctx.sessions.begin() as s:
        res = wq.dismiss_unidentified(s, actor, body.reason, body.note, f)
    return BulkDismissOut(dismissed=res.dismissed, remaining=res.remaining)
