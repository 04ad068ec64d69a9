"""Events under review: read one (evidence re-checked), its evidence files, its evidence
package, and confirm / undo / dismiss. The console's event pages (central/web/events.py)
call the same workflow functions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from central.api import schemas as S
from central.api.deps import get_ctx, require
from central.context import Context
from central.evidence import integrity
from central.workflow import evidence_read, review, runner_ups
from central.workflow.common import Actor

router = APIRouter(prefix="/api")
Ctx = Annotated[Context, Depends(get_ctx)]
# Who may see an event: central/workflow/evidence_read.py says (the console's pages too).
Viewer = Annotated[Actor, Depends(require(*evidence_read.READ_ROLES))]
Operator = Annotated[Actor, Depends(require(*review.REVIEW_ROLES))]


@router.get("/events/{event_id}", response_model=S.EventDetailOut, tags=["review"])
def get_event(event_id: str, ctx: Ctx, actor: Viewer) -> S.EventDetailOut:
    """One event, its evidence re-checked, with the match's runner-ups as the console's
    event page shows them (``alternatives``; one ``event.read`` audit entry lists them)."""
    with ctx.sessions.begin() as s:
        item, found = runner_ups.read_event(s, actor, event_id)
    verdict = integrity.check(
        ctx.sessions.begin, ctx.sessions, ctx.evidence, event_id, actor.label, "api"
    )
    out = S.EventDetailOut.of(item, verdict)
    out.alternatives = [S.CandidateOut.model_validate(c) for c in found]
    return out


@router.get(
    "/events/{event_id}/evidence/{n}",
    tags=["review"],
    responses={200: {"content": {"image/jpeg": {}, "video/webm": {}}}},
    response_class=Response,
)
def get_evidence(
    event_id: str, n: Annotated[int, Path(ge=0, le=64)], ctx: Ctx, actor: Viewer
) -> Response:
    # The console's read too (central/workflow/evidence_read.py): audited {"n", "sha256"}.
    got = evidence_read.read_evidence(ctx.sessions.begin, ctx.evidence, actor, event_id, n, "api")
    return Response(got.data, media_type=got.media_type, headers={"Cache-Control": "no-store"})


@router.get(
    "/evidence-packages/{reference}",
    tags=["review"],
    responses={200: {"content": {"application/zip": {}}}, 409: {"description": "altered"}},
    response_class=Response,
)
def evidence_package(reference: str, ctx: Ctx, actor: Viewer) -> Response:
    """The evidence package of a fine reference or an event id: a zip with the PDF, the
    signed message, the device key and a standalone verifier (audited). 409 when the
    evidence is altered (nothing is packaged), 404 when unknown or purged."""
    pkg = evidence_read.evidence_package(
        ctx.sessions.begin, ctx.evidence, actor, reference, "staff (API)"
    )
    return Response(
        pkg.data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{pkg.filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/events/{event_id}/confirm", response_model=S.ConfirmOut, tags=["review"])
def confirm(event_id: str, ctx: Ctx, actor: Operator) -> S.ConfirmOut:
    """Confirm a matched violation (review.second_reviewer, review.undo_window_s decide
    whether this issues the fine, starts the undo window, or awaits a second operator)."""
    d = review.confirm_intact(ctx.sessions.begin, ctx.evidence, actor, ctx.rules, event_id)
    return S.ConfirmOut.model_validate(d)


@router.post("/events/{event_id}/undo", response_model=S.EventOut, tags=["review"])
def undo(event_id: str, ctx: Ctx, actor: Operator) -> S.EventOut:
    """Take back one's own confirmation while its undo window runs (or while it awaits
    the second reviewer): nothing has been issued; the event goes back one step."""
    with ctx.sessions.begin() as s:
        review.undo(s, actor, event_id)
        return S.EventOut.of(review.read_event(s, actor, event_id))


@router.post("/events/{event_id}/dismiss", status_code=204, tags=["review"])
def dismiss(event_id: str, body: S.DismissIn, ctx: Ctx, actor: Operator) -> None:
    with ctx.sessions.begin() as s:
        review.dismiss(s, actor, event_id, body.reason)
