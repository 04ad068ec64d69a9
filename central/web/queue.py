"""Console pages of the review queue: the filtered, keyset-paged queue and history, its
live refresh (Server-Sent Events), "next case", case claims, and unidentified violations
(statistics and bulk dismissal). The logic is central.workflow.queue / .claims."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse

from central.store.models import Event
from central.web.auth import COOKIE, WebUser, check_csrf, require
from central.web.labels import REASON_LABELS, SORT_LABELS, STATUS_LABELS
from central.web.pages import PageRoute
from central.web.state import WebState, web_state
from central.workflow import claims, review
from central.workflow import queue as wq
from central.workflow import queue_stream as qs

router = APIRouter(prefix="/console", tags=["console"], route_class=PageRoute)
Reviewer = Annotated[WebUser, Depends(require(*wq.QUEUE_ROLES))]
Operator = Annotated[WebUser, Depends(require(*claims.CLAIM_ROLES))]
State = Annotated[WebState, Depends(web_state)]
PAGE = 50


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _limit(raw: str) -> int:
    """Rows a page (``limit``, 1 to wq.MAX_PAGE; default PAGE)."""
    if not raw:
        return PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= wq.MAX_PAGE:
        raise ValueError(
            f"limit: expected a whole number from 1 to {wq.MAX_PAGE}, got {raw[:20]!r}"
        )
    return int(raw)


def _page_context(st: WebState, request: Request, user: WebUser) -> dict[str, Any]:
    params = dict(request.query_params)
    f = wq.parse_filter(params)
    cursor = params.get("after") or None
    limit = _limit(params.get("limit", ""))
    with st.tx() as s:
        page = wq.list_queue(s, user.actor, f, cursor=cursor, limit=limit)
        cams = wq.cameras(s)
    base = f.params() | ({"limit": str(limit)} if limit != PAGE else {})
    return {
        "page": page,
        "f": f,
        "cameras": cams,
        "sites": sorted({(c.device_id) for c in cams}),
        "statuses": {k: STATUS_LABELS[k] for k in wq.STATUS_GROUPS},
        "sorts": SORT_LABELS,
        "reasons": REASON_LABELS,
        "camera_value": f"{f.device_id}/{f.camera_id}" if f.device_id and f.camera_id else "",
        "first_url": "/console/queue?" + urlencode(base) if cursor else None,
        "next_url": (
            "/console/queue?" + urlencode({**base, "after": page.next_cursor})
            if page.next_cursor
            else None
        ),
        "me": user.actor.label,
        "limit": limit,
        "default_limit": PAGE,
        "cursor": cursor or "",
    }


def undo_banner(s: Any, user: WebUser, done: str, ref: str) -> dict[str, Any] | None:
    """After a confirmation that started its undo window (``done=confirming``, ``ref`` =
    the event): what the banner's Undo button needs, while the window still runs."""
    if done != "confirming" or not ref:
        return None
    try:
        c = review.final_confirmation(s, ref)
    except review.NotFound:
        return None
    if c is None or c.effective_at is None or c.actor != user.actor.label:
        return None
    return {"event_id": ref, "until": c.effective_at}


@router.get("/queue", response_class=HTMLResponse)
def queue(
    *, request: Request, done: str = "", ref: str = "", user: Reviewer, st: State
) -> Response:
    """The queue (default: waiting cases, oldest first) or, with ``status=decided``, the
    history; filters and the page cursor are query parameters, so every view is a link."""
    ctx = _page_context(st, request, user)
    with st.ctx.sessions() as s:
        undo = undo_banner(s, user, done, ref)
    return st.templates.TemplateResponse(
        request, "queue.html", {"user": user, "done": done, "ref": ref, "undo": undo, **ctx}
    )


@router.get("/queue/rows", response_class=HTMLResponse)
def queue_rows(*, request: Request, user: Reviewer, st: State) -> Response:
    """The table body alone, for the live refresh (same filter, same page)."""
    ctx = _page_context(st, request, user)
    headers = {"X-Queue-Total": str(ctx["page"].total), "Cache-Control": "no-store"}
    return st.templates.TemplateResponse(
        request, "_queue_rows.html", {"user": user, **ctx}, headers=headers
    )


@router.get("/queue/stream")
async def queue_stream(*, request: Request, user: Reviewer, st: State) -> StreamingResponse:
    """Server-Sent Events: ``ready`` once connected, then ``queue`` whenever a new event,
    a decision or a claim changes what queue pages show (central/workflow/queue_stream.py,
    shared with ``GET /api/queue/stream``); 429 past the per-account or server cap."""
    try:
        return qs.stream_response(
            st.ctx.sessions, user.actor, request.cookies.get(COOKIE, ""), wq.QUEUE_ROLES,
            request.is_disconnected, request.headers.get("last-event-id"),
        )  # fmt: skip
    except qs.TooManyStreams as e:
        raise HTTPException(429, str(e), {"Retry-After": "60"}) from None


@router.get("/next")
def next_item(*, done: str = "", ref: str = "", user: Operator, st: State) -> Response:
    """Claim the oldest case nobody else is reviewing and open it (after a decision the
    next one opens by itself)."""
    with st.tx() as s:
        eid = wq.next_case(s, user.actor)
    flash = f"?done={quote(done)}&ref={quote(ref)}" if done else ""
    if eid is None:
        return _see_other(f"/console/queue{flash or '?done=empty'}")
    return _see_other(f"/console/events/{eid}{flash}")


@router.post("/events/{event_id}/claim")
def renew_claim(
    *, event_id: str, csrf_token: Annotated[str, Form()] = "", user: Operator, st: State
) -> Response:
    """Renew the claim while the page is open (event page script): JSON, 409 if lost."""
    check_csrf(user, csrf_token)
    try:
        with st.tx() as s:
            c = claims.claim(s, user.actor, event_id)
    except claims.Claimed as e:
        body = {"claimed_by": e.claim.holder_name, "until": e.claim.expires.isoformat()}
        return JSONResponse({"detail": str(e), **body}, status_code=409)
    return JSONResponse({"until": c.expires.isoformat()}, headers={"Cache-Control": "no-store"})


@router.post("/events/{event_id}/release")
def release_claim(
    *, event_id: str, csrf_token: Annotated[str, Form()] = "", user: Operator, st: State
) -> Response:
    """Give the case back (leaving its page without deciding)."""
    check_csrf(user, csrf_token)
    with st.tx() as s:
        released = claims.release(s, user.actor, event_id)
    return JSONResponse({"released": released})


# --- unidentified violations ------------------------------------------------------------


@router.get("/unidentified", response_class=HTMLResponse)
def unidentified(
    *, request: Request, done: str = "", n: int = 0, user: Reviewer, st: State
) -> Response:
    """Statistics of violations nobody was identified for, and bulk dismissal: no image,
    no face and no person are offered (nobody is identified after the fact)."""
    f = wq.parse_filter({**dict(request.query_params), "status": "unidentified"})
    with st.ctx.sessions() as s:
        stats = wq.unidentified_stats(s, user.actor, f)
        cams = wq.cameras(s)
    reasons = {k: REASON_LABELS[k] for k in wq.UNIDENTIFIED_REASONS}
    return st.templates.TemplateResponse(
        request, "unidentified.html",
        {"user": user, "stats": stats, "f": f, "cameras": cams, "reasons": reasons,
         "camera_value": f"{f.device_id}/{f.camera_id}" if f.device_id and f.camera_id else "",
         "done": done, "n": n, "max_bulk": wq.MAX_BULK},
    )  # fmt: skip


@router.post("/unidentified/dismiss")
def unidentified_dismiss(
    *,
    reason: Annotated[str, Form()],
    note: Annotated[str, Form(max_length=500)] = "",
    camera: Annotated[str, Form(max_length=140)] = "",
    date_from: Annotated[str, Form(max_length=20)] = "",
    date_to: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form()] = "",
    user: Annotated[WebUser, Depends(require(*wq.BULK_ROLES))],
    st: State,
) -> Response:
    check_csrf(user, csrf_token)
    f = wq.parse_filter({"camera": camera, "date_from": date_from, "date_to": date_to})
    with st.tx() as s:
        res = wq.dismiss_unidentified(s, user.actor, reason, note, f)
    back = {k: v for k, v in f.params().items() if k in ("date_from", "date_to")}
    if camera:
        back["camera"] = camera
    return _see_other(
        "/console/unidentified?" + urlencode({**back, "done": "dismissed", "n": res.dismissed})
    )


# --- claims on the event page -------------------------------------------------------------


def case_claim(st: WebState, user: WebUser, item: Any) -> claims.ClaimView | None:
    """For the event page: an operator opening a waiting case claims it (or learns who
    holds it); others just see the live claim, if any."""
    if item.status not in claims.CLAIMABLE:
        return None
    # the first reviewer looking at their own confirmed case must not block the second
    own_first = item.first_confirmed_by is not None and item.first_confirmed_by == user.actor.label
    if user.role in claims.CLAIM_ROLES and not own_first:
        try:
            with st.tx() as s:
                return claims.claim(s, user.actor, item.event_id)
        except claims.Claimed as e:
            return e.claim
    with st.ctx.sessions() as s:
        ev = s.execute(sa.select(Event).where(Event.event_id == item.event_id)).scalar_one()
        return claims.current(s, ev)


def claimed_page(
    st: WebState, request: Request, user: WebUser, claim: claims.ClaimView
) -> Response:
    """409 as a page: who is reviewing the case, until when, and where to go instead."""
    return st.templates.TemplateResponse(
        request, "claimed.html", {"user": user, "claim": claim}, status_code=409,
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip
