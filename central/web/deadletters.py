"""Console page for admins: dead letters (requeue, discard) and quarantined events
(release to review, discard), all through central.workflow.deadletters (audited)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Request, Response
from fastapi.responses import RedirectResponse

from central.web.auth import WebUser, check_csrf, require
from central.web.pages import PageRoute
from central.web.state import WebState, web_state
from central.workflow import deadletters as dl
from central.workflow import review

router = APIRouter(prefix="/console", tags=["console"], route_class=PageRoute)
DlId = Annotated[int, Path(ge=1, le=2**31 - 1)]
EventId = Annotated[str, Path(max_length=64)]
Note = Annotated[str, Form(max_length=500)]
Admin = Annotated[WebUser, Depends(require(*dl.ACT_ROLES))]
St = Annotated[WebState, Depends(web_state)]


def _back(done: str) -> RedirectResponse:
    return RedirectResponse(f"/console/dead-letters?done={quote(done)}", status_code=303)


@router.get("/dead-letters")
def page(*, request: Request, done: str = "", user: Admin, st: St) -> Response:
    with st.tx() as s:
        letters = dl.list_dead_letters(s, user.actor, limit=200)
        quarantined = review.quarantined(s, user.actor, limit=200)
    return st.templates.TemplateResponse(
        request,
        "deadletters.html",
        {"user": user, "letters": letters, "quarantined": quarantined, "done": done[:200]},
    )


@router.post("/dead-letters/{dl_id}/requeue")
def requeue(*, dl_id: DlId, csrf_token: Annotated[str, Form()] = "", user: Admin, st: St):
    check_csrf(user, csrf_token)
    with st.tx() as s:
        outcome = dl.requeue_dead_letter(s, user.actor, st.ctx, dl_id)
    return _back(f"dead letter {dl_id} requeued: {outcome}")


@router.post("/dead-letters/{dl_id}/discard")
def discard(
    *, dl_id: DlId, note: Note = "", csrf_token: Annotated[str, Form()] = "", user: Admin, st: St
):
    check_csrf(user, csrf_token)
    with st.tx() as s:
        dl.discard_dead_letter(s, user.actor, dl_id, note)
    return _back(f"dead letter {dl_id} discarded")


@router.post("/quarantine/{event_id}/release")
def release(
    *, event_id: EventId, note: Note = "", csrf_token: Annotated[str, Form()] = "", user: Admin,
    st: St,
):  # fmt: skip
    check_csrf(user, csrf_token)
    with st.tx() as s:
        to = dl.release_quarantined(s, user.actor, event_id, note)
    return _back(f"event {event_id} released: {to.replace('_', ' ')}")


@router.post("/quarantine/{event_id}/discard")
def discard_event(
    *, event_id: EventId, note: Note = "", csrf_token: Annotated[str, Form()] = "", user: Admin,
    st: St,
):  # fmt: skip
    check_csrf(user, csrf_token)
    with st.tx() as s:
        dl.discard_quarantined(s, user.actor, event_id, note)
    return _back(f"event {event_id} discarded")
