"""Console event pages: the event under review (frames, clip, face, the match and the
enrolled photos, one audit entry per page view), its evidence files and package, and
confirm / undo / dismiss. The API's events (central/api/events.py) call the same
workflow functions.

Every decision goes through central.workflow (the only code allowed to create fines);
this module only renders, authorises and routes.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from central.evidence import integrity
from central.ingest.store import CLIP_ROLE
from central.store.models import Event
from central.store.status import EventStatus
from central.web.auth import WebUser, check_csrf, require
from central.web.evidence_view import clip_view, frame_view, match_view
from central.web.labels import REASON_LABELS as _LABELS
from central.web.pages import PageRoute, package_response, render, see_other
from central.web.queue import case_claim, claimed_page, undo_banner
from central.web.state import WebState, web_state
from central.workflow import appeals, claims, evidence_read, photos, review, runner_ups, users
from central.workflow import queue as wq

router = APIRouter(prefix="/console", tags=["console"], route_class=PageRoute)

# The dismissal reasons an operator picks from on the event page.
REASON_LABELS = {k: _LABELS[k] for k in review.DISMISS_REASONS}
# Who may see an event: central/workflow/evidence_read.py says (the API too).
Viewer = Annotated[WebUser, Depends(require(*evidence_read.READ_ROLES))]


def event_view(
    item: review.ReviewItem,
    payload: dict[str, Any],
    enrolled: list[dict[str, Any]] | None = None,
    view: int | None = None,
    alternatives: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What the event page draws: frames (with geometry), the face crop and the match.

    ``enrolled``: the matched person's enrolment photos (URLs of the original and of its
    face crop); None when the viewer's role may not see them (only those who review
    matches and decide appeals may). ``view``: the page view's audit entry, carried by
    every file URL so those reads are covered by it (central/workflow/evidence_read.py).
    ``alternatives``: the match's runner-ups (person, score, gap to the match, photo URL
    or None), best first (issue 17)."""
    q = f"?view={view}" if view is not None else ""
    frames, faces = [], []
    for pos, ((role, _sha), img) in enumerate(
        zip(item.evidence, payload.get("evidence", []), strict=False)
    ):
        url = f"/console/events/{item.event_id}/evidence/{pos}.jpg{q}"
        entry = {"role": role, "url": url, "blurred_faces": img.get("blurred_faces", 0)}
        if role != "face":
            entry |= frame_view(role, img, payload)
        (faces if role == "face" else frames).append(entry)
    signal = payload.get("signal", {})
    match = payload.get("match") or {}
    clip = clip_view(payload)
    if clip is not None and any(r == CLIP_ROLE for r, _ in item.evidence):
        clip["url"] = f"/console/events/{item.event_id}/clip.webm{q}"
    else:
        clip = None  # no clip sent, or its bytes were purged
    return {
        "frames": frames,
        "faces": faces,
        "clip": clip,
        "geometry": {
            "zone": payload.get("zone", []),
            "bbox": payload.get("bbox"),
            "roi": signal.get("roi"),
        },
        "signal": signal,
        "grace_s": payload.get("grace_s"),
        "match": match,
        "comparison": match_view(item.match_score, match, alternatives),
        "alternatives": alternatives or [],
        "enrolled": enrolled or [],
        "enrolled_hidden": enrolled is None and item.match_person_id is not None,
    }


def open_event(
    s: Any, st: WebState, user: WebUser, event_id: str
) -> tuple[review.ReviewItem, dict[str, Any]]:
    """The event and its page view: ONE audit entry for everything the page shows (the
    files it links carry the entry's id), instead of one per still, clip and photo."""
    item = review.event_item(s, user.actor, event_id)
    ev = s.execute(sa.select(Event).where(Event.event_id == event_id)).scalar_one()
    shown = None
    if user.role in photos.VIEW_ROLES:
        shown = photos.photos_for_event(s, user.actor, event_id)
        for p in shown:  # photos from before the crops: cropped on their first view
            photos.ensure_face(st.ctx.evidence, p)
    # The match's runner-ups: ids and scores for whoever sees the match; their photos
    # only for the roles that see enrolment photos (the same rule as the match's own).
    alts = photos.alternatives_for_event(s, event_id)
    see_photos = user.role in photos.VIEW_ROLES
    if see_photos:
        for a in alts:
            if a.photo is not None:
                photos.ensure_face(st.ctx.evidence, a.photo)
    listed = [(a.person_id, a.photo if see_photos else None) for a in alts]
    view = evidence_read.open_view(s, user.actor, event_id, shown, alternatives=listed)
    enrolled = None
    if shown is not None:
        base = f"/console/events/{event_id}/enrolled"
        enrolled = [
            {
                "url": f"{base}/{i}?view={view}",
                "face_url": f"{base}/{i}/face.jpg?view={view}"
                if p.face_status == photos.FACE_FOUND
                else None,
            }
            for i, p in enumerate(shown)
        ]
    # The figures the API returns too (central/workflow/runner_ups.py): one meaning.
    ranked = runner_ups.rank(alts, item.match_score, runner_ups.threshold_of(ev.payload))
    alternatives = [
        {
            "person_id": c.person_id,
            "score": c.score,
            "gap": c.gap,
            "above_threshold": c.above_threshold,
            "photo_url": f"/console/events/{event_id}/alternatives/{i}/photo?view={view}"
            if photo is not None
            else None,
            "cropped": photo is not None and photo.face_status == photos.FACE_FOUND,
            "photo_hidden": not see_photos,
        }
        for i, (c, (_pid, photo)) in enumerate(zip(ranked, listed, strict=True))
    ]
    extra = {"reason_code": ev.reason_code, "event_pk": ev.id}
    return item, event_view(item, ev.payload, enrolled, view, alternatives) | extra


@router.get("/events/{event_id}", response_class=HTMLResponse)
def event_page(
    *,
    event_id: str,
    request: Request,
    done: str = "",
    ref: str = "",
    user: Viewer,
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    with st.tx() as s:
        try:
            item, view = open_event(s, st, user, event_id)
        except review.NotFound:
            raise HTTPException(404, f"event {event_id}: not found") from None
        waiting = wq.waiting_count(s)
        outcome = appeals.case_outcome(s, view["event_pk"])
        undo = undo_banner(s, user, done, ref)
        ev = s.get(Event, view["event_pk"])
        prefs = users.preferences(s, user.actor)  # the account's, in any browser
        needs_second = (  # the confirm dialog says what the click will do
            ev is not None
            and ev.status == EventStatus.pending_review
            and review.needs_second_review(ev, st.ctx.rules.review)
        )
    claim = case_claim(st, user, item)
    if claim is not None and not claim.mine(user.actor) and user.role in claims.CLAIM_ROLES:
        return claimed_page(st, request, user, claim)
    verdict = check(st, user, event_id)
    return render(
        st, request, "event.html", user, item=item, view=view, waiting=waiting,
        reasons=REASON_LABELS, reason=view["reason_code"], done=done, ref=ref, verdict=verdict,
        outcome=outcome,
        claim=claim, undo=undo, needs_second=needs_second, prefs=prefs,
        undo_window_s=st.ctx.rules.review.undo_window_s,
    )  # fmt: skip


def check(st: WebState, user: WebUser, event_id: str) -> integrity.Verdict:
    """The evidence re-checked for this page (after its own transaction: a failure is
    recorded in another)."""
    return integrity.check(
        st.tx, st.ctx.sessions, st.ctx.evidence, event_id, user.actor.label, "console"
    )


def altered_response(problems: list[str]) -> Response:
    return Response(
        "evidence altered: " + "; ".join(problems),
        status_code=409,
        media_type="text/plain",
        headers={"Cache-Control": "no-store"},
    )


ViewId = Annotated[int | None, Query(ge=1, le=2**62)]


def _read_file(
    st: WebState, user: WebUser, event_id: str, n: int, view: int | None, count: bool = True
) -> evidence_read.EvidenceFile | Response:
    """The one evidence read (central/workflow/evidence_read.py) as the console answers it."""
    try:
        return evidence_read.read_evidence(
            st.tx, st.ctx.evidence, user.actor, event_id, n, "console", view, count
        )
    except review.NotFound:
        raise HTTPException(404, "not found") from None
    except integrity.EvidenceAltered as e:
        return altered_response(e.problems)


@router.get("/events/{event_id}/evidence/{pos}.jpg")
def evidence_image(
    *,
    event_id: str,
    pos: Annotated[int, Path(ge=0, le=64)],
    view: ViewId = None,
    user: Viewer,
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    """Unredacted evidence for staff: audited like every read of personal data (by the
    page view whose id it carries, else on its own)."""
    got = _read_file(st, user, event_id, pos, view)
    if isinstance(got, Response):
        return got
    headers = {"Cache-Control": "private, no-store"}
    return Response(got.data, media_type=got.media_type, headers=headers)


@router.get("/events/{event_id}/package.zip")
def evidence_package(
    *,
    event_id: str,
    user: Viewer,
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    """The evidence package (PDF, signed message, key, verifier); audited."""
    try:
        pkg = evidence_read.evidence_package(
            st.tx, st.ctx.evidence, user.actor, event_id, "staff (console)"
        )
    except integrity.EvidenceAltered as e:
        return altered_response(e.problems)
    return package_response(pkg.data, pkg.filename)


@router.get("/events/{event_id}/clip.webm")
def evidence_clip(
    *,
    event_id: str,
    request: Request,
    view: ViewId = None,
    user: Viewer,
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    """The violation's clip for staff, audited like the stills. Answers byte ranges
    (the video element asks for them to seek)."""
    with st.ctx.sessions() as s:
        try:
            item = review.event_item(s, user.actor, event_id)
        except review.NotFound:
            raise HTTPException(404, "not found") from None
    n = next((i for i, (r, _h) in enumerate(item.evidence) if r == CLIP_ROLE), None)
    if n is None:
        raise HTTPException(404, "not found")
    # One audit row per viewing, not per range request.
    got = _read_file(st, user, event_id, n, view, count=_first_request(request))
    if isinstance(got, Response):
        return got
    return byte_range_response(got.data, "video/webm", request.headers.get("range"))


def _first_request(request: Request) -> bool:
    rng = request.headers.get("range", "")
    return not rng or rng.replace(" ", "").startswith("bytes=0-")


def byte_range_response(data: bytes, media_type: str, range_header: str | None) -> Response:
    """200 with the whole body, or 206 for one ``bytes=a-b`` range (416 if unsatisfiable)."""
    headers = {"Cache-Control": "private, no-store", "Accept-Ranges": "bytes"}
    size = len(data)
    if not range_header or not range_header.startswith("bytes=") or "," in range_header:
        return Response(data, media_type=media_type, headers=headers)
    start_s, _, end_s = range_header[6:].strip().partition("-")
    try:
        if start_s:
            start, end = int(start_s), int(end_s) if end_s else size - 1
        else:  # suffix range: the last N bytes
            start, end = max(0, size - int(end_s)), size - 1
    except ValueError:
        return Response(data, media_type=media_type, headers=headers)
    end = min(end, size - 1)
    if start > end or start >= size:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(data[start : end + 1], status_code=206, media_type=media_type, headers=headers)


@router.get("/events/{event_id}/enrolled/{n}")
def enrolled_photo(
    *,
    event_id: str,
    n: Annotated[int, Path(ge=0, le=64)],
    view: ViewId = None,
    user: Annotated[WebUser, Depends(require(*photos.VIEW_ROLES))],
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    """Enrolment photo ``n`` of the person the event was matched to, for comparison with
    the captured face; reachable only through such an event, audited like evidence."""
    with st.tx() as s:
        try:
            data, media_type = photos.read_event_photo(
                s, user.actor, st.ctx.evidence, event_id, n, view
            )
        except photos.NotFound:
            raise HTTPException(404, "not found") from None
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, no-store"})


@router.get("/events/{event_id}/enrolled/{n}/face.jpg")
def enrolled_face(
    *,
    event_id: str,
    n: Annotated[int, Path(ge=0, le=64)],
    view: ViewId = None,
    user: Annotated[WebUser, Depends(require(*photos.VIEW_ROLES))],
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    """The face crop of enrolment photo ``n`` (framed like the captured face), audited
    like the photo; 404 when no face was found in it (the page shows the photo then)."""
    with st.tx() as s:
        try:
            data = photos.read_event_face(s, user.actor, st.ctx.evidence, event_id, n, view)
        except photos.NotFound:
            raise HTTPException(404, "not found") from None
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


@router.get("/events/{event_id}/alternatives/{n}/photo")
def alternative_photo(
    *,
    event_id: str,
    n: Annotated[int, Path(ge=0, le=64)],
    view: ViewId = None,
    user: Annotated[WebUser, Depends(require(*photos.VIEW_ROLES))],
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    """The enrolment photo (its face crop when one was found) of runner-up ``n`` of the
    event's match, for the face comparison; audited like the match's own photos."""
    with st.tx() as s:
        try:
            data, media_type = photos.read_alternative_photo(
                s, user.actor, st.ctx.evidence, event_id, n, view
            )
        except photos.NotFound:
            raise HTTPException(404, "not found") from None
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, no-store"})


@router.post("/events/{event_id}/confirm")
def confirm(
    *,
    event_id: str,
    csrf_token: Annotated[str, Form()] = "",
    user: Annotated[WebUser, Depends(require(*review.REVIEW_ROLES))],
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    check_csrf(user, csrf_token)
    d = review.confirm_intact(
        st.tx, st.ctx.evidence, user.actor, st.ctx.rules, event_id, require_claim=True
    )
    if d.fine is not None:  # no undo window: issued at once
        st.hub.poke()
        return see_other(f"/console/next?done=confirmed&ref={quote(d.fine.reference)}")
    # second_review (a second operator must confirm) or confirming (undo window runs): the
    # next item opens with a banner that says so and, for the undo window, an Undo button.
    return see_other(f"/console/next?done={d.status}&ref={quote(event_id)}")


@router.post("/events/{event_id}/undo")
def undo(
    *,
    event_id: str,
    csrf_token: Annotated[str, Form()] = "",
    user: Annotated[WebUser, Depends(require(*review.REVIEW_ROLES))],
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    """Take back one's own confirmation (in its undo window, or awaiting the second
    reviewer): nothing has been issued; the event is open again."""
    check_csrf(user, csrf_token)
    with st.tx() as s:
        review.undo(s, user.actor, event_id)
    return see_other(f"/console/events/{quote(event_id)}?done=undone")


@router.post("/events/{event_id}/dismiss")
def dismiss(
    *,
    event_id: str,
    reason: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    user: Annotated[WebUser, Depends(require(*review.REVIEW_ROLES))],
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    check_csrf(user, csrf_token)
    with st.tx() as s:
        review.dismiss(s, user.actor, event_id, reason, require_claim=True)
    return see_other("/console/next?done=dismissed")
