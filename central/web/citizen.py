"""The citizen's notice page: open a notice with reference + code (from the SMS), see the
evidence, pay (``Pay now``: a checkout session with the payment provider, or the bank
details with the reference), or appeal. A citizen can never mark a fine paid: only the
provider's signed webhook, a bank statement or a cashier does.

No enumeration: an unknown reference and a wrong code get the same answer after the
same minimum time, and attempts are rate-limited per client. The code is never put in
a URL (forms POST it), and the evidence is inlined so no image URL can be shared.
"""

from __future__ import annotations

import base64
import logging
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from central import audit
from central.evidence import integrity
from central.evidence.package import PERSON_AUDIENCE
from central.evidence.package import build as build_package
from central.fines import format_money
from central.frontdoor import client_address, frontdoor
from central.ingest.store import CLIP_ROLE
from central.notices.kinds import NoticeKind
from central.notices.models import NoticeDelivery
from central.payments.base import ProviderError
from central.store.models import Appeal, DisplayEntry, Event, Evidence, Fine, Notice
from central.store.status import FineStatus
from central.web import i18n
from central.web.evidence_view import clip_view, frame_view
from central.web.i18n import N_
from central.web.pages import PageRoute, package_response
from central.web.state import WebState, web_state
from central.workflow import appeals, notice_access, payments, sanctions
from central.workflow.common import NotFound, WorkflowError
from central.workflow.score import current_score

log = logging.getLogger(__name__)
router = APIRouter(prefix="/notice", tags=["citizen"], route_class=PageRoute)
# The link in the SMS (notices config ``notice_url: https://…/n/{reference}``).
links = APIRouter(tags=["citizen"], route_class=PageRoute)
WRONG = N_("We could not open a notice with this reference and code. Check both against your SMS.")
ALTERED = N_(
    "The stored evidence of this notice does not match what the camera signed, so it is not "
    "shown or packaged. Staff have been alerted."
)
NO_PROVIDER = N_("Online payment is not available. Please pay by bank transfer.")
PROVIDER_DOWN = N_("The payment service is not available now. Please try again later.")
RETURNED = {
    "done": N_("Thank you. Your payment shows here once the payment service confirms it."),
    "cancelled": N_("The payment was cancelled. Nothing was paid."),
}
LIMITED = N_("Too many attempts from your connection. Please wait a minute and try again.")
CITIZEN_ROLES_SHOWN = ("before", "entry", "after", "face")
# An appeal's state in the citizen's words (the workflow's STATE_LABELS, marked here so
# they are extracted and translated with the page).
APPEAL_STATES = {
    "pending": N_("submitted"),
    "under_review": N_("under review"),
    "upheld": N_("upheld"),
    "denied": N_("denied"),
}


def _language(request: Request, notice_language: str | None = None) -> str:
    """The page's language: the one the citizen chose (``?lang=``), else the language their
    notice was sent in, else their browser's (Accept-Language), else English."""
    return (
        i18n.supported(request.query_params.get("lang"))
        or i18n.supported(notice_language)
        or i18n.from_accept_language(request.headers.get("accept-language"))
        or i18n.DEFAULT
    )


def _notice_language(s: Any, fine: Fine) -> str | None:
    """The language the fine's SMS notice was rendered in (set by the sender)."""
    return s.execute(
        sa.select(NoticeDelivery.language)
        .join(Notice, Notice.id == NoticeDelivery.notice_id)
        .where(Notice.fine_id == fine.id, Notice.kind == NoticeKind.fine_issued)
        .order_by(Notice.id)
        .limit(1)
    ).scalar()


def _form(
    st: WebState, request: Request, reference: str, error: str | None, status: int,
    message: str | None = None,
):  # fmt: skip
    page = i18n.PageLanguage(_language(request), i18n.zone(None))
    return st.templates.TemplateResponse(
        request, "notice_form.html",
        {"reference": reference, "error": page.gettext(error) if error else None,
         "message": page.gettext(message) if message else None,
         **page.template_context()},
        status_code=status,
    )  # fmt: skip


def _open(st: WebState, request: Request, reference: str, code: str) -> Fine | Response:
    """The fine, or the page to return instead (rate limited / wrong reference or code)."""
    # One budget with /api/public/*: per client address and per reference.
    verdict = frontdoor(request).throttle.public(client_address(request), reference)
    if not verdict.allowed:
        resp = _form(st, request, reference, LIMITED, 429)
        resp.headers.update(verdict.headers)
        return resp
    fine = notice_access.open_notice(st.ctx.sessions, reference, code)
    if fine is None:
        return _form(st, request, reference, WRONG, 403)
    return fine


def _notice_view(st: WebState, s: Any, fine: Fine, verdict: integrity.Verdict) -> dict[str, Any]:
    ev = s.get(Event, fine.event_pk)
    place = (
        s.execute(sa.select(DisplayEntry.place).where(DisplayEntry.fine_id == fine.id)).scalar()
        or f"{ev.device_id}/{ev.camera_id}"
    )
    images, clip = [], None
    signed_images = ev.payload.get("evidence") or []
    rows = s.execute(
        sa.select(Evidence.position, Evidence.role, Evidence.sha256)
        .where(Evidence.event_pk == ev.id, Evidence.role.in_((*CITIZEN_ROLES_SHOWN, CLIP_ROLE)))
        .order_by(Evidence.position)
    ).all()
    for pos, role, sha in rows if verdict.ok else []:  # altered evidence is never shown
        try:
            data = integrity.read_blob(st.ctx.evidence, sha)
        except (KeyError, integrity.BlobAltered):  # purged (retention) / changed since
            continue
        b64 = base64.b64encode(data).decode()
        if role == CLIP_ROLE:
            clip = clip_view(ev.payload)
            if clip is not None:
                clip["src"] = "data:video/webm;base64," + b64
            continue
        img = {"role": role, "src": "data:image/jpeg;base64," + b64}
        if role != "face" and pos < len(signed_images):
            img |= frame_view(role, signed_images[pos], ev.payload)
        images.append(img)
    appeal_st = appeals.appeal_state(s, fine, st.ctx.rules)
    shown_appeals = []
    for v in appeal_st.appeals:
        files = []
        for f in v.attachments:
            item = {"row": f, "src": None}
            if f.media_type.startswith("image/"):  # inlined: no URL to share, as evidence
                try:
                    _, data = appeals.attachment_bytes(s, st.ctx.evidence, f.appeal_id, f.position)
                    item["src"] = f"data:{f.media_type};base64," + base64.b64encode(data).decode()
                except WorkflowError:
                    pass
            files.append(item)
        shown_appeals.append({"view": v, "files": files})
    try:
        offence = st.ctx.rules.schedule.offence(fine.offence_code).description
    except ValueError:
        offence = fine.offence_code
    return {
        "fine": fine,
        "offence": offence,
        "place": place,
        "amount": format_money(fine.amount_cents, fine.currency),
        "images": images,
        "clip": clip,
        "appeal": appeal_st.latest.appeal if appeal_st.latest else None,
        "appeal_state": appeal_st,
        "appeals": shown_appeals,
        "appeal_settings": st.ctx.rules.appeals,
        "score": current_score(s, st.ctx.rules, fine.person_id),
        "score_start": st.ctx.rules.score.start,
        "signal": ev.payload.get("signal", {}),
        "evidence_altered": not verdict.ok,
        "package": verdict.ok and not verdict.purged,
        "paid": format_money(fine.paid_cents or 0, fine.currency),
        "outstanding": format_money(payments.outstanding_cents(fine), fine.currency),
        "part_paid": bool(fine.paid_cents) and fine.status == FineStatus.issued,
        "bank": st.ctx.config.payments.bank,
    }


def _error(page: i18n.PageLanguage, error: str | None, reason: str | None) -> str | None:
    if not error:
        return None
    text = page.gettext(error)
    return text % {"reason": reason} if reason is not None else text


def _show(
    st: WebState, request: Request, reference: str, code: str,
    message: str | None = None, error: str | None = None, status: int = 200,
    reason: str | None = None,
) -> Response:  # fmt: skip
    """The opened notice. ``error``/``message`` are catalog messages, translated here;
    ``reason`` fills an error's ``%(reason)s`` (a workflow's own words, left as they are)."""
    with st.ctx.sessions() as s:
        fine = sanctions.fine_by_reference(s, reference, lock=False)
        event_id = s.get(Event, fine.event_pk).event_id
    who = notice_access.holder(fine.reference).label
    verdict = integrity.check(st.tx, st.ctx.sessions, st.ctx.evidence, event_id, who, "citizen")
    with st.tx() as s:
        fine = sanctions.fine_by_reference(s, reference, lock=False)
        audit.record(s, who, "notice.read", f"fine:{fine.reference}")
        view = _notice_view(st, s, fine, verdict)
        ev = s.get(Event, fine.event_pk)
        site_tz = ev.payload.get("site_tz") if isinstance(ev.payload, dict) else None
        # times in the site's zone (wire schema 2 events carry it), else UTC, said so
        page = i18n.PageLanguage(_language(request, _notice_language(s, fine)), i18n.zone(site_tz))
    return st.templates.TemplateResponse(
        request, "notice.html",
        {**view, "reference": fine.reference, "code": code,
         "message": page.gettext(message) if message else None,
         "error": _error(page, error, reason), **page.template_context(),
         "appeal_label": lambda status: page.gettext(APPEAL_STATES.get(status, status)),
         "pay_online": getattr(request.app.state, "payment_provider", None) is not None},
        status_code=status,
    )  # fmt: skip


@router.get("", response_class=HTMLResponse)
def form(
    *, request: Request, ref: str = "", st: Annotated[WebState, Depends(web_state)]
) -> Response:
    return _form(st, request, ref[:32], None, 200)


@links.get("/n/{reference}", response_class=HTMLResponse)
def notice_link(
    *,
    request: Request,
    reference: str,
    st: Annotated[WebState, Depends(web_state)],
    payment: str = "",
) -> Response:
    """The SMS link: the notice form with the reference filled in; the access code (in the
    SMS, never in a URL) is still asked for. The answer is the same for every reference,
    existing or not, and no database row is read: the link is no oracle for which
    references exist. It draws on the public door's per-address budget (a reference's
    own budget is for attempts with a code). The payment provider sends the person back
    here (``?payment=done|cancelled``): the same form, with a line about the payment."""
    verdict = frontdoor(request).throttle.public(client_address(request), None)
    ref = reference.strip() if notice_access.plausible(reference.strip()) else ""
    if not verdict.allowed:
        resp = _form(st, request, ref, LIMITED, 429)
        resp.headers.update(verdict.headers)
        return resp
    return _form(st, request, ref, None, 200, RETURNED.get(payment))


@router.post("", response_class=HTMLResponse)
def open_notice(
    *,
    request: Request,
    reference: Annotated[str, Form(max_length=64)],
    code: Annotated[str, Form(max_length=64)],
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    got = _open(st, request, reference.strip(), code.strip())
    if isinstance(got, Response):
        return got
    return _show(st, request, got.reference, code.strip())


@router.post("/pay", response_class=HTMLResponse)
def pay(
    *,
    request: Request,
    reference: Annotated[str, Form(max_length=64)],
    code: Annotated[str, Form(max_length=64)],
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    """ "Pay now": a checkout session for what is owed, and a redirect to the provider's
    page. Nothing about the fine changes here."""
    got = _open(st, request, reference.strip(), code.strip())
    if isinstance(got, Response):
        return got
    provider = getattr(request.app.state, "payment_provider", None)
    if provider is None:
        return _show(st, request, got.reference, code, error=NO_PROVIDER, status=409)
    actor = notice_access.holder(got.reference)
    try:
        cs = payments.start_checkout(
            st.ctx.sessions, actor, provider, got.reference, st.ctx.config.api.base_url,
            f"Fine {got.reference}",
        )  # fmt: skip
    except WorkflowError as e:
        return _show(
            st,
            request,
            got.reference,
            code,
            error=N_("Nothing to pay: %(reason)s"),
            reason=str(e),
            status=409,
        )
    except ProviderError:
        log.exception("checkout for %s failed", got.reference)
        return _show(st, request, got.reference, code, error=PROVIDER_DOWN, status=503)
    return RedirectResponse(cs.url, status_code=303)


async def _read_files(uploads: list[UploadFile], max_bytes: int) -> list[tuple[str, bytes]]:
    """Each upload's bytes, read at most one byte past the limit (so an oversized file is
    named and refused by the workflow's checks, never held whole). Empty file inputs
    (a form sent without choosing a file) are skipped."""
    out = []
    for u in uploads:
        data = await u.read(max_bytes + 1)
        if not data and not u.filename:
            continue
        out.append((u.filename or "file", data))
    return out


@router.post("/appeal", response_class=HTMLResponse)
async def appeal(
    *,
    request: Request,
    reference: Annotated[str, Form(max_length=64)],
    code: Annotated[str, Form(max_length=64)],
    statement: Annotated[str, Form(max_length=5000)],
    files: Annotated[list[UploadFile], File()] = [],  # noqa: B006 (FastAPI reads it, never mutated)
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    """File an appeal, or contest a denial when second-level review is configured; the
    statement and up to ``appeals.max_attachments`` photos/PDFs (checked by content)."""
    got = await run_in_threadpool(_open, st, request, reference.strip(), code.strip())
    if isinstance(got, Response):
        return got
    uploads = await _read_files(files, st.ctx.rules.appeals.max_attachment_bytes)
    return await run_in_threadpool(_file_appeal, st, request, got, code, statement, uploads)


def _file_appeal(
    st: WebState, request: Request, got: Fine, code: str, statement: str,
    uploads: list[tuple[str, bytes]],
) -> Response:  # fmt: skip
    actor = notice_access.holder(got.reference)
    try:
        with st.tx() as s:
            a = appeals.submit_appeal(
                s, actor, st.ctx.evidence, st.ctx.rules, got.reference, statement, uploads
            )
            level = a.level
    except (WorkflowError, ValueError) as e:
        return _show(
            st,
            request,
            got.reference,
            code,
            error=N_("Appeal not filed: %(reason)s"),
            reason=str(e),
            status=409,
        )
    msg = (
        N_("Your appeal has been received. A supervisor will decide; you will get an SMS.")
        if level == 1
        else N_(
            "Your request for a second review has been received. Another supervisor will "
            "decide; you will get an SMS."
        )
    )
    return _show(st, request, got.reference, code, message=msg)


@router.post("/appeal/file")
def appeal_file(
    *,
    request: Request,
    reference: Annotated[str, Form(max_length=64)],
    code: Annotated[str, Form(max_length=64)],
    appeal_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    position: Annotated[int, Form(ge=1, le=100)],
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    """One of the person's own appeal files, as a download (reference and code POSTed)."""
    got = _open(st, request, reference.strip(), code.strip())
    if isinstance(got, Response):
        return got
    try:
        with st.tx() as s:
            a = s.get(Appeal, appeal_id)
            if a is None or a.fine_id != got.id:  # another fine's appeal: same as absent
                raise NotFound(f"appeal {appeal_id}: no attachment {position}")
            row, data = appeals.attachment_bytes(s, st.ctx.evidence, appeal_id, position)
            audit.record(
                s, notice_access.holder(got.reference).label, "appeal.attachment.read",
                f"appeal:{appeal_id}", {"n": position},
            )  # fmt: skip
    except WorkflowError as e:
        return _show(st, request, got.reference, code, error=str(e), status=404)
    return Response(data, media_type=row.media_type, headers=appeals.download_headers(row, False))


@router.post("/package")
def package(
    *,
    request: Request,
    reference: Annotated[str, Form(max_length=64)],
    code: Annotated[str, Form(max_length=64)],
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    """The person's own evidence package (zip: PDF, signed message, key, verifier);
    reference and code are POSTed like every notice action; audited."""
    got = _open(st, request, reference.strip(), code.strip())
    if isinstance(got, Response):
        return got
    who = notice_access.holder(got.reference).label
    try:
        with st.tx() as s:
            pkg = build_package(s, st.ctx.evidence, got.reference, who, PERSON_AUDIENCE)
    except integrity.EvidenceAltered as e:
        integrity.record_altered(st.tx, e.event_id, e.problems, who, "export")
        return _show(st, request, got.reference, code, error=ALTERED, status=409)
    except WorkflowError as e:  # purged
        return _show(st, request, got.reference, code, error=str(e), status=404)
    return package_response(pkg.data, pkg.filename)
