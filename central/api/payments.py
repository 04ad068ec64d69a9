"""Payment routes: the checkout provider's signed webhook, the cashier's payment, and
the supervisor's list and settlement of what did not simply pay a fine. Every route is
a thin layer over central/workflow/payments.py (the notice page uses the same)."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from central.api.deps import get_ctx, require
from central.api.schemas import Body
from central.context import Context
from central.ingest.store import insert_dead_letters
from central.payments.base import CheckoutProvider, WebhookOutcome, WebhookRejected
from central.store.models import PaymentAdjustment, StatementLine, utcnow
from central.store.status import FineStatus
from central.workflow import payments
from central.workflow.common import Actor, NotFound
from jaywatch.wire import printable

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/payments", tags=["payments"])
Ctx = Annotated[Context, Depends(get_ctx)]
RecordId = Annotated[int, Path(ge=1, le=2**31 - 1)]
WEBHOOK_TOPIC = "payments/webhook"  # dead letters of refused webhooks are filed under it
DEAD_LETTER_RAW = 4096


class StaffPaymentIn(Body):
    reference: str = Field(max_length=32)
    amount_cents: int = Field(ge=1, le=payments.MAX_CENTS)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    receipt_no: str = Field(min_length=1, max_length=64)
    method: Literal["cash", "card", "cheque", "transfer", "other"] = "cash"
    note: str = Field("", max_length=500)


class AdjustmentOut(BaseModel):
    id: int
    fine_reference: str
    kind: str  # refund_due | balance_due
    amount_cents: int
    currency: str
    reason: str
    status: str  # open | settled | covered
    created: datetime
    resolution: str | None = None
    settled_by: str | None = None
    note: str = ""


class PaymentOut(BaseModel):
    reference: str
    status: str  # the fine's status after the payment
    newly_recorded: bool
    outcome: str  # paid | partial | overpaid | not_due | currency
    paid_cents: int
    outstanding_cents: int
    adjustment: AdjustmentOut | None = None


class StatementLineOut(BaseModel):
    id: int
    status: str  # unmatched | ambiguous
    reason: str
    file_name: str
    line_no: int
    booked: datetime | None
    amount_cents: int
    currency: str
    remittance: str
    counterparty: str
    bank_ref: str | None


class OpenOut(BaseModel):
    adjustments: list[AdjustmentOut]
    statement_lines: list[StatementLineOut]


class SettleIn(Body):
    resolution: Literal["refunded", "waived"]
    note: str = Field(min_length=1, max_length=2000)


class AssignIn(Body):
    reference: str = Field(max_length=32)


def adjustment_out(a: PaymentAdjustment, reference: str) -> AdjustmentOut:
    return AdjustmentOut(
        id=a.id, fine_reference=reference, kind=a.kind, amount_cents=a.amount_cents,
        currency=a.currency, reason=a.reason, status=a.status, created=a.created,
        resolution=a.resolution, settled_by=a.settled_by, note=a.note or "",
    )  # fmt: skip


def payment_out(r: payments.PaymentResult) -> PaymentOut:
    return PaymentOut(
        reference=r.fine.reference,
        status=r.fine.status,
        newly_recorded=r.newly_recorded,
        outcome=r.payment.outcome,
        paid_cents=r.fine.paid_cents or 0,
        outstanding_cents=payments.outstanding_cents(r.fine)
        if r.fine.status == FineStatus.issued
        else 0,
        adjustment=adjustment_out(r.adjustment, r.fine.reference) if r.adjustment else None,
    )


def _line_out(x: StatementLine) -> StatementLineOut:
    return StatementLineOut(
        id=x.id, status=x.status, reason=x.reason, file_name=x.file_name, line_no=x.line_no,
        booked=x.booked, amount_cents=x.amount_cents, currency=x.currency,
        remittance=x.remittance, counterparty=x.counterparty, bank_ref=x.bank_ref,
    )  # fmt: skip


# --- the provider's webhook -------------------------------------------------------------


def _dead_letter(ctx: Context, provider: str, reason: str, body: bytes) -> None:
    """Where a person can look at a refused delivery (the console's dead letters, the
    API's /api/dead-letters); the same bytes twice make one row."""
    row = {
        "received": utcnow(),
        "topic": f"{WEBHOOK_TOPIC}/{provider}",
        "reason": printable(reason),
        "raw": body[:DEAD_LETTER_RAW],
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    try:
        with ctx.sessions.begin() as s:
            ing = ctx.config.ingest  # the same bounds as ingest's (anyone can post here)
            insert_dead_letters(
                s, [row], ing.dead_letters_max_total_bytes, ing.dead_letters_per_topic
            )
    except Exception:  # the database is down: the log line is all there is
        log.exception("payment webhook: could not store the dead letter")


def _apply_webhook(ctx: Context, out: WebhookOutcome) -> dict[str, Any]:
    p = out.payment
    assert p is not None
    actor = Actor(name=f"provider:{p.provider}", role="system")
    incoming = payments.IncomingPayment(
        channel="checkout", provider=p.provider, payment_id=p.payment_id,
        reference=p.reference, amount_cents=p.amount_cents, currency=p.currency,
        received_at=p.paid_at, details=p.details,
    )  # fmt: skip
    for attempt in (1, 2):  # a concurrent delivery of the same payment wins the race
        try:
            with ctx.sessions.begin() as s:
                r = payments.apply_payment(s, actor, incoming)
                return {
                    "ok": True, "event": out.event_id, "new": r.newly_recorded,
                    "outcome": r.payment.outcome, "fine_status": r.fine.status,
                }  # fmt: skip
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@router.post("/webhook", responses={403: {"description": "forged, unsigned or stale"}})
async def webhook(request: Request, ctx: Ctx) -> dict[str, Any]:
    """The checkout provider's event (signed over the raw body, see
    central/payments/signature.py). Refused deliveries change nothing, are logged and
    kept as dead letters; a payment reported twice is recorded once."""
    provider: CheckoutProvider | None = getattr(request.app.state, "payment_provider", None)
    if provider is None:
        raise HTTPException(404, "no payment provider configured (payments.provider)")
    body = await request.body()  # the raw bytes the provider signed
    try:
        out = provider.verify_webhook(request.headers, body, time.time())
    except WebhookRejected as e:
        log.warning("payment webhook refused (%s): %s", provider.name, e)
        await run_in_threadpool(_dead_letter, ctx, provider.name, str(e), body)
        raise HTTPException(403 if e.forged else 422, str(e)) from None
    if out.payment is None:
        log.info("payment webhook %s: event %s ignored", out.event_id, out.event_type)
        return {"ok": True, "event": out.event_id, "ignored": out.event_type}
    try:
        result = await run_in_threadpool(_apply_webhook, ctx, out)
    except (NotFound, ValueError) as e:  # signed, but for no fine we know: for a person
        reason = f"signed payment not applied: {e}"
        log.warning("payment webhook %s: %s", out.event_id, reason)
        await run_in_threadpool(_dead_letter, ctx, provider.name, reason, body)
        return {"ok": True, "event": out.event_id, "applied": False}  # no retries: a case
    if result["new"]:
        log.info("payment webhook %s: %s", out.event_id, result["outcome"])
        web = getattr(request.app.state, "jaywatch_web", None)
        if web is not None:
            web.hub.poke()  # screens drop the entry now, not at the next poll
    else:
        log.warning("payment webhook %s: payment already recorded (duplicate)", out.event_id)
    return result


# --- staff ------------------------------------------------------------------------------

Cashier = Annotated[Actor, Depends(require(*payments.STAFF_PAYMENT_ROLES))]
Supervisor = Annotated[Actor, Depends(require(*payments.SETTLE_ROLES))]
Lister = Annotated[Actor, Depends(require(*payments.LIST_ROLES))]


@router.post("", response_model=PaymentOut)
def record_payment(body: StaffPaymentIn, request: Request, ctx: Ctx, actor: Cashier) -> PaymentOut:
    """Money taken at a counter, with the receipt number issued (idempotent on it)."""
    with ctx.sessions.begin() as s:
        r = payments.record_staff_payment(
            s, actor, body.reference, body.amount_cents, body.currency, body.receipt_no,
            body.method, body.note,
        )  # fmt: skip
        out = payment_out(r)
    web = getattr(request.app.state, "jaywatch_web", None)
    if web is not None and r.newly_recorded:
        web.hub.poke()
    return out


@router.get("/open", response_model=OpenOut)
def open_items(ctx: Ctx, actor: Lister) -> OpenOut:
    """Open refund/balance records and bank lines that matched no fine."""
    with ctx.sessions.begin() as s:
        got = payments.open_items(s, actor)
        return OpenOut(
            adjustments=[adjustment_out(a, ref) for a, ref in got.adjustments],
            statement_lines=[_line_out(x) for x in got.lines],
        )


@router.post("/adjustments/{adjustment_id}/settle", response_model=AdjustmentOut)
def settle(
    adjustment_id: RecordId, body: SettleIn, request: Request, ctx: Ctx, actor: Supervisor
) -> AdjustmentOut:
    with ctx.sessions.begin() as s:
        a = payments.settle_adjustment(s, actor, adjustment_id, body.resolution, body.note)
        ref = payments.fine_reference(s, a.fine_id)
        out = adjustment_out(a, ref)
    web = getattr(request.app.state, "jaywatch_web", None)
    if web is not None:
        web.hub.poke()
    return out


@router.post("/statement-lines/{line_id}/assign", response_model=PaymentOut)
def assign(line_id: RecordId, body: AssignIn, ctx: Ctx, actor: Supervisor) -> PaymentOut:
    """A person decides which fine an unmatched bank line paid."""
    with ctx.sessions.begin() as s:
        return payment_out(payments.assign_statement_line(s, actor, line_id, body.reference))
