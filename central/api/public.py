"""Public endpoints for the holder of a notice (reference + access code from the SMS).

Rate-limited per client address and per reference, one budget with the /notice pages
(central/frontdoor), and every failure — unknown reference, wrong code —
gives the same 404, so nobody can learn which references exist.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request

from central import audit
from central.api import schemas as S
from central.api.appeals import appeal_out
from central.api.deps import get_ctx
from central.context import Context
from central.frontdoor import client_address, frontdoor
from central.payments.base import ProviderError
from central.store.models import DisplayEntry, Fine
from central.workflow import appeals, notice_access, payments, sanctions
from central.workflow.common import Actor
from jaywatch.wire import DisplayItem

router = APIRouter(prefix="/api/public", tags=["public"])
Ctx = Annotated[Context, Depends(get_ctx)]
WRONG = "no notice with this reference and code"


def _throttle(request: Request, body: S.NoticeAccess) -> None:
    """One budget with the /notice pages: per client address and per reference."""
    v = frontdoor(request).throttle.public(client_address(request), body.reference)
    if not v.allowed:
        raise HTTPException(429, "too many attempts; try again later", v.headers)


def _open(ctx: Context, body: S.NoticeAccess) -> str:
    """The notice page's door (padded, one answer for both failures): 403 like the page.
    The fine's reference, for the caller's own transaction."""
    f = notice_access.open_notice(ctx.sessions, body.reference.strip(), body.code.strip())
    if f is None:
        raise HTTPException(403, WRONG)
    return f.reference


def _holder(f: Fine) -> Actor:
    return notice_access.holder(f.reference)


def notice_out(s: sa.orm.Session, ctx: Context, f: Fine) -> S.NoticeOut:
    d = s.execute(sa.select(DisplayEntry).where(DisplayEntry.fine_id == f.id)).scalar_one()
    st = appeals.appeal_state(s, f, ctx.rules)
    latest = st.latest
    return S.NoticeOut(
        reference=f.reference,
        status=f.status,
        offence=d.offence,
        place=d.place,
        occurred=f.occurred,
        amount_cents=f.amount_cents,
        currency=f.currency,
        points=f.points,
        due=f.due,
        appeal_status=latest.appeal.status if latest else None,
        due_paused=st.paused,
        appeal_window_ends=st.window.ends,
        appeal_window_basis=st.window.basis,
        can_appeal=st.can_appeal,
        can_contest=st.can_contest,
        contest_by=st.contest_by,
        appeals=[appeal_out(s, v.appeal) for v in st.appeals],
        paid_cents=f.paid_cents or 0,
    )


@router.post("/notice", response_model=S.NoticeOut)
def notice(body: S.NoticeAccess, ctx: Ctx, request: Request) -> S.NoticeOut:
    _throttle(request, body)
    ref = _open(ctx, body)
    with ctx.sessions.begin() as s:
        f = sanctions.fine_by_reference(s, ref, lock=False)
        audit.record(s, _holder(f).label, "notice.read", f"fine:{f.reference}")
        return notice_out(s, ctx, f)


@router.post(
    "/checkout",
    response_model=S.CheckoutOut,
    responses={409: {"description": "nothing to pay"}, 503: {"description": "no provider"}},
)
def checkout(body: S.NoticeAccess, ctx: Ctx, request: Request) -> S.CheckoutOut:
    """ "Pay now": a checkout session with the payment provider for what is owed; send the
    person to ``url``. The fine is paid only when the provider's signed webhook says so."""
    _throttle(request, body)
    ref = _open(ctx, body)
    provider = getattr(request.app.state, "payment_provider", None)
    if provider is None:
        raise HTTPException(503, "online payment is not available here; pay by bank transfer")
    try:
        cs = payments.start_checkout(
            ctx.sessions, notice_access.holder(ref), provider, ref, ctx.config.api.base_url,
            f"Fine {ref}",
        )  # fmt: skip
    except ProviderError as e:
        raise HTTPException(503, f"the payment provider is not available: {e}") from None
    with ctx.sessions() as s:
        f = sanctions.fine_by_reference(s, ref, lock=False)
        owed = payments.outstanding_cents(f)
    return S.CheckoutOut(
        url=cs.url, session_id=cs.session_id, amount_cents=owed, currency=f.currency
    )


def _decode(files: list[S.AttachmentIn]) -> list[tuple[str, bytes]]:
    out = []
    for i, a in enumerate(files, start=1):
        try:
            out.append((a.filename, base64.b64decode(a.content_base64, validate=True)))
        except (binascii.Error, ValueError):
            raise HTTPException(
                422, f"attachments[{i}] ({a.filename[:100]}): content_base64 is not base64"
            ) from None
    return out


@router.post("/appeal", response_model=S.AppealOut, status_code=201)
def appeal(body: S.PublicAppealIn, ctx: Ctx, request: Request) -> S.AppealOut:
    """File an appeal (within the window) or contest a denial (if configured), with
    photos (JPEG/PNG) or PDFs checked by their content."""
    _throttle(request, body)
    files = _decode(body.attachments)
    ref = _open(ctx, body)
    with ctx.sessions.begin() as s:
        f = sanctions.fine_by_reference(s, ref, lock=False)
        a = appeals.submit_appeal(
            s, _holder(f), ctx.evidence, ctx.rules, f.reference, body.grounds, files
        )
        return appeal_out(s, a)


@router.get("/display", response_model=list[DisplayItem])
def display(ctx: Ctx, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[DisplayItem]:
    """Anonymised confirmed infractions for public screens (no name, phone or face)."""
    with ctx.sessions() as s:
        return sanctions.display_feed(s, limit)
