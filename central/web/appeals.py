"""Console appeal pages (supervisor): open appeals, one appeal with its case, its
files, start review and decide; over central/workflow/appeals.py, the functions the API
(central/api/appeals.py) calls too."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request, Response
from fastapi.responses import HTMLResponse

from central import audit
from central.store.models import Appeal, Event, Fine
from central.store.status import AppealStatus
from central.web.auth import WebUser, check_csrf, require
from central.web.events import check, open_event
from central.web.pages import PageRoute, render, see_other
from central.web.state import WebState, web_state
from central.workflow import appeals
from central.workflow.common import Conflict, Forbidden

router = APIRouter(prefix="/console", tags=["console"], route_class=PageRoute)

MAX_ID = 2**31 - 1  # beyond any row id; bigger numbers overflow the DB driver
SupervisorUser = Annotated[WebUser, Depends(require(*appeals.APPEAL_DECIDE_ROLES))]


def _appeal_rows(s: Any, items: list[Appeal]) -> list[dict[str, Any]]:
    out = []
    for v in appeals.view_appeals(s, items):
        fine = s.get(Fine, v.appeal.fine_id)
        ev = s.get(Event, fine.event_pk)
        out.append(
            {"appeal": v.appeal, "view": v, "fine": fine, "event_id": ev.event_id,
             "camera": ev.camera_id}
        )  # fmt: skip
    return out


@router.get("/appeals", response_class=HTMLResponse)
def appeals_page(
    *,
    request: Request,
    done: str = "",
    user: SupervisorUser,
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    with st.tx() as s:
        rows = _appeal_rows(s, appeals.open_appeals(s, user.actor, limit=200))
    return render(st, request, "appeals.html", user, rows=rows, done=done)


@router.get("/appeals/{appeal_id}", response_class=HTMLResponse)
def appeal_page(
    *,
    appeal_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    request: Request,
    error: str = "",
    user: SupervisorUser,
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    with st.tx() as s:
        a = s.get(Appeal, appeal_id)
        if a is None:
            raise HTTPException(404, f"appeal {appeal_id}: not found")
        row = _appeal_rows(s, [a])[0]
        history = _appeal_rows(
            s,
            list(
                s.execute(
                    sa.select(Appeal).where(Appeal.fine_id == a.fine_id).order_by(Appeal.id)
                ).scalars()
            ),
        )
        audit.record(s, user.actor.label, "appeal.read", f"appeal:{appeal_id}")
        item, view = open_event(s, st, user, row["event_id"])
    verdict = check(st, user, row["event_id"])
    return render(
        st, request, "appeal.html", user, row=row, history=history, item=item, view=view,
        verdict=verdict, error=error[:300], reasons_max=st.ctx.rules.appeals.reasons_max_chars,
    )  # fmt: skip


@router.get("/appeals/{appeal_id}/files/{position}")
def appeal_file(
    *,
    appeal_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    position: Annotated[int, Path(ge=1, le=100)],
    download: bool = False,
    user: SupervisorUser,
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    """An appeal file: photos inline (re-encoded at upload) unless ``download``, PDFs
    always as a download; nosniff and a sandbox CSP either way."""
    with st.tx() as s:
        row, data = appeals.attachment_bytes(s, st.ctx.evidence, appeal_id, position)
        audit.record(
            s, user.actor.label, "appeal.attachment.read", f"appeal:{appeal_id}", {"n": position}
        )
    headers = appeals.download_headers(row, inline=not download)
    return Response(data, media_type=row.media_type, headers=headers)


@router.post("/appeals/{appeal_id}/review")
def start_review(
    *,
    appeal_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    csrf_token: Annotated[str, Form()] = "",
    user: SupervisorUser,
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    check_csrf(user, csrf_token)
    try:
        with st.tx() as s:
            appeals.start_review(s, user.actor, appeal_id)
    except (Forbidden, Conflict) as e:
        return see_other(f"/console/appeals/{appeal_id}?error={quote(str(e))}")
    return see_other(f"/console/appeals/{appeal_id}")


@router.post("/appeals/{appeal_id}/decide")
def decide(
    *,
    appeal_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    decision: Annotated[str, Form(pattern="^(uphold|deny)$")],
    note: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form()] = "",
    user: SupervisorUser,
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    check_csrf(user, csrf_token)
    try:
        with st.tx() as s:
            appeals.decide_appeal(
                s, user.actor, st.ctx.rules, appeal_id, decision == "uphold", note
            )
    except (Forbidden, Conflict, ValueError) as e:
        return see_other(f"/console/appeals/{appeal_id}?error={quote(str(e))}")
    st.hub.poke()
    done = AppealStatus.upheld if decision == "uphold" else AppealStatus.denied
    return see_other(f"/console/appeals?done={done}")
