"""Payments: what money arriving does to a fine, one set of functions for the checkout
webhook, the bank-statement import, the cashier's API/CLI and the notice page.

A citizen can never mark a fine paid: money counts only when a provider's signed
webhook, a bank statement line or a cashier (with a receipt number) reports it. Paying
in full withdraws the display entry and queues the "payment received" SMS in the same
transaction (principle 4). Money that cannot simply close a fine — a part payment, an
overpayment, a payment after the fine was paid or voided, the wrong currency — is
credited or kept and leaves an open record (``balance_due`` / ``refund_due``) that a
supervisor settles. Money is integer cents in the fine's currency.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central import audit
from central.auth.roles import Permission, roles_for
from central.fines import format_money
from central.notices.kinds import PaymentReceived, queue_notice
from central.payments.base import CheckoutProvider, CheckoutRequest, CheckoutSession
from central.payments.statements import Statement, StatementEntry
from central.store.models import (
    Fine,
    Payment,
    PaymentAdjustment,
    StatementLine,
    utcnow,
)
from central.store.status import (
    AdjustmentKind,
    AdjustmentStatus,
    FineStatus,
    PaymentOutcome,
    StatementLineStatus,
)
from central.workflow.common import Actor, Conflict, NotFound, require_role
from central.workflow.sanctions import _withdraw_display, fine_by_reference

log = logging.getLogger(__name__)

# Who may report money: the system (webhook, statement import) and staff at a counter.
# Never "citizen".
PAYMENT_ROLES = roles_for(Permission.payment_record)
STAFF_PAYMENT_ROLES = roles_for(Permission.payment_take)
SETTLE_ROLES = roles_for(Permission.payment_settle)
LIST_ROLES = roles_for(Permission.payment_list)
CHECKOUT_ROLES = roles_for(Permission.payment_checkout)
CHANNELS = ("checkout", "bank", "staff")
_CURRENCY = re.compile(r"[A-Z]{3}")
MAX_CENTS = 10**12
OPEN_LINES = (StatementLineStatus.unmatched, StatementLineStatus.ambiguous)


@dataclass(frozen=True)
class IncomingPayment:
    """Money reported by one channel, before it touches a fine."""

    channel: str  # checkout | bank | staff
    provider: str  # the checkout provider's name | "bank" | "staff"
    payment_id: str  # the provider's id / statement line key / receipt number
    reference: str  # the fine's reference
    amount_cents: int
    currency: str
    received_at: datetime | None = None
    receipt_no: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentResult:
    fine: Fine
    payment: Payment
    newly_recorded: bool
    adjustment: PaymentAdjustment | None = None


def outstanding_cents(fine: Fine) -> int:
    return max(0, fine.amount_cents - (fine.paid_cents or 0))


def _check(p: IncomingPayment) -> None:
    if p.channel not in CHANNELS:
        raise ValueError(f"channel: expected one of {list(CHANNELS)}, got {p.channel!r}")
    if not p.payment_id.strip() or len(p.payment_id) > 128:
        raise ValueError("payment id: required, at most 128 characters")
    if isinstance(p.amount_cents, bool) or not isinstance(p.amount_cents, int):
        raise ValueError(f"amount_cents: expected whole cents, got {p.amount_cents!r}")
    if not 0 < p.amount_cents <= MAX_CENTS:
        raise ValueError(f"amount_cents: expected 1..{MAX_CENTS}, got {p.amount_cents}")
    if not _CURRENCY.fullmatch(p.currency):
        raise ValueError(f"currency: expected an ISO 4217 code like EUR, got {p.currency!r}")


def _adjust(
    session: Session,
    fine: Fine,
    payment: Payment,
    kind: str,
    cents: int,
    reason: str,
    now: datetime,
) -> PaymentAdjustment:
    adj = PaymentAdjustment(
        fine_id=fine.id,
        payment_id=payment.id,
        kind=kind,
        amount_cents=cents,
        currency=payment.currency if kind == AdjustmentKind.refund_due else fine.currency,
        reason=reason[:200],
        created=now,
        status=AdjustmentStatus.open,
        note="",
    )
    session.add(adj)
    session.flush()
    return adj


def _close_paid(session: Session, fine: Fine, ref: str, now: datetime) -> None:
    """The fine is paid in full: closed, off the screens, the SMS queued — one transaction."""
    fine.status = FineStatus.paid
    fine.payment_ref = ref[:128]
    fine.paid_at = now
    fine.closed_at = now
    _withdraw_display(session, fine.id, now)
    queue_notice(
        session,
        PaymentReceived(
            reference=fine.reference, amount=format_money(fine.paid_cents, fine.currency)
        ),
        person_id=fine.person_id,
        fine_id=fine.id,
        created=now,
    )


def apply_payment(
    session: Session, actor: Actor, incoming: IncomingPayment, now: datetime | None = None
) -> PaymentResult:
    """Record money for a fine; idempotent on ``(provider, payment_id)`` (a second report
    of the same payment changes nothing and returns ``newly_recorded=False``)."""
    require_role(actor, *PAYMENT_ROLES)
    _check(incoming)
    now = now or utcnow()
    pid = incoming.payment_id.strip()
    fine = fine_by_reference(session, incoming.reference.strip())  # locked: one at a time
    earlier = session.execute(
        sa.select(Payment).where(
            Payment.provider == incoming.provider, Payment.provider_payment_id == pid
        )
    ).scalar()
    if earlier is not None:
        if (earlier.fine_id, earlier.amount_cents, earlier.currency) != (
            fine.id, incoming.amount_cents, incoming.currency,
        ):  # fmt: skip
            log.warning(
                "payment %s/%s reported again with different fine/amount/currency: ignored",
                incoming.provider, pid,
            )  # fmt: skip
        old = session.get(Fine, earlier.fine_id)
        assert old is not None
        return PaymentResult(old, earlier, False)
    payment = Payment(
        fine_id=fine.id,
        channel=incoming.channel,
        provider=incoming.provider,
        provider_payment_id=pid,
        amount_cents=incoming.amount_cents,
        currency=incoming.currency,
        received_at=incoming.received_at or now,
        recorded_at=now,
        recorded_by=actor.label[:128],
        outcome=PaymentOutcome.paid,
        receipt_no=incoming.receipt_no,
        details=incoming.details,
    )
    session.add(payment)
    session.flush()
    money = format_money(incoming.amount_cents, incoming.currency)
    adj = None
    if incoming.currency != fine.currency:
        payment.outcome = PaymentOutcome.currency
        adj = _adjust(
            session, fine, payment, AdjustmentKind.refund_due, incoming.amount_cents,
            f"paid {money} in {incoming.currency}; the fine is in {fine.currency}", now,
        )  # fmt: skip
    elif fine.status != FineStatus.issued:
        payment.outcome = PaymentOutcome.not_due
        adj = _adjust(
            session, fine, payment, AdjustmentKind.refund_due, incoming.amount_cents,
            f"paid {money} after the fine was {fine.status}", now,
        )  # fmt: skip
    else:
        fine.paid_cents = (fine.paid_cents or 0) + incoming.amount_cents
        # A balance left by an earlier part payment is replaced by what is owed now.
        session.execute(
            sa.update(PaymentAdjustment)
            .where(
                PaymentAdjustment.fine_id == fine.id,
                PaymentAdjustment.kind == AdjustmentKind.balance_due,
                PaymentAdjustment.status == AdjustmentStatus.open,
            )
            .values(status=AdjustmentStatus.covered, settled_at=now, settled_by=actor.label[:128])
        )
        owed = fine.amount_cents - fine.paid_cents
        if owed > 0:
            payment.outcome = PaymentOutcome.partial
            adj = _adjust(
                session, fine, payment, AdjustmentKind.balance_due, owed,
                f"part payment: {format_money(fine.paid_cents, fine.currency)} of "
                f"{format_money(fine.amount_cents, fine.currency)} paid", now,
            )  # fmt: skip
        else:
            _close_paid(session, fine, f"{incoming.provider}:{pid}", now)
            if owed < 0:
                payment.outcome = PaymentOutcome.overpaid
                adj = _adjust(
                    session, fine, payment, AdjustmentKind.refund_due, -owed,
                    f"overpaid: {format_money(fine.paid_cents, fine.currency)} paid for "
                    f"{format_money(fine.amount_cents, fine.currency)}", now,
                )  # fmt: skip
    audit.record(
        session,
        actor.label,
        "fine.pay",
        f"fine:{fine.reference}",
        {
            "channel": incoming.channel,
            "provider": incoming.provider,
            "payment_id": pid,
            "amount_cents": incoming.amount_cents,
            "currency": incoming.currency,
            "receipt_no": incoming.receipt_no,
            "outcome": payment.outcome,
            "adjustment": adj.id if adj else None,
        },
    )
    return PaymentResult(fine, payment, True, adj)


def record_staff_payment(
    session: Session,
    actor: Actor,
    reference: str,
    amount_cents: int,
    currency: str,
    receipt_no: str,
    method: str = "cash",
    note: str = "",
    now: datetime | None = None,
) -> PaymentResult:
    """A cashier (or supervisor) took the money: recorded with the receipt number they
    issued (idempotent on it), audited under their name."""
    require_role(actor, *STAFF_PAYMENT_ROLES)
    receipt_no = receipt_no.strip()
    if not re.fullmatch(r"[A-Za-z0-9/_.-]{1,64}", receipt_no):
        raise ValueError("receipt_no: expected 1-64 letters, digits or - _ . /")
    fine = fine_by_reference(session, reference.strip(), lock=False)
    if currency != fine.currency:  # a typo at the counter: refused, not a refund
        raise ValueError(f"currency: the fine is in {fine.currency}, got {currency!r}")
    return apply_payment(
        session,
        actor,
        IncomingPayment(
            channel="staff",
            provider="staff",
            payment_id=receipt_no,
            reference=reference,
            amount_cents=amount_cents,
            currency=currency,
            receipt_no=receipt_no,
            details={"method": method[:32], "note": note[:500]},
        ),
        now,
    )


def refund_paid_fine(
    session: Session, actor: Actor, fine: Fine, reason: str, now: datetime | None = None
) -> PaymentAdjustment | None:
    """A fine that money was paid for is about to be voided (an appeal upheld; call it
    before the status changes): the money credited to it becomes a refund for a
    supervisor to settle. None if nothing was paid."""
    now = now or utcnow()
    # A fine paid before payments were recorded (paid_cents 0, status paid): all of it.
    cents = fine.paid_cents or (fine.amount_cents if fine.status == FineStatus.paid else 0)
    if not cents:
        return None
    last = session.execute(
        sa.select(Payment).where(Payment.fine_id == fine.id).order_by(Payment.id.desc())
    ).scalar()
    adj = PaymentAdjustment(
        fine_id=fine.id,
        payment_id=last.id if last else None,
        kind=AdjustmentKind.refund_due,
        amount_cents=cents,
        currency=fine.currency,
        reason=reason[:200],
        created=now,
        status=AdjustmentStatus.open,
        note="",
    )
    session.add(adj)
    session.flush()
    audit.record(
        session, actor.label, "payment.refund_due", f"fine:{fine.reference}",
        {"adjustment": adj.id, "amount_cents": cents, "reason": reason[:200]},
    )  # fmt: skip
    return adj


RESOLUTIONS = {
    AdjustmentKind.refund_due: ("refunded",),
    AdjustmentKind.balance_due: ("waived", "refunded"),
}


def settle_adjustment(
    session: Session,
    actor: Actor,
    adjustment_id: int,
    resolution: str,
    note: str,
    now: datetime | None = None,
) -> PaymentAdjustment:
    """A supervisor settles an open record, with a note (e.g. the refund's transfer id).

    refund_due → ``refunded``. balance_due → ``waived`` (the rest is forgiven: the fine
    is closed as paid, off the screens, the SMS queued) or ``refunded`` (the part payment
    was given back: the fine stays open for its full amount)."""
    require_role(actor, *SETTLE_ROLES)
    now = now or utcnow()
    note = note.strip()
    if not note or len(note) > 2000:
        raise ValueError(
            "note: required (what was done, e.g. the refund's transfer id), at most 2000 characters"
        )
    adj = session.execute(
        sa.select(PaymentAdjustment).where(PaymentAdjustment.id == adjustment_id).with_for_update()
    ).scalar()
    if adj is None:
        raise NotFound(f"payment record {adjustment_id}: not found")
    if adj.status != AdjustmentStatus.open:
        raise Conflict(f"payment record {adjustment_id}: already {adj.status}")
    allowed = RESOLUTIONS[adj.kind]
    if resolution not in allowed:
        raise ValueError(
            f"resolution: a {adj.kind} is settled as one of {list(allowed)}, got {resolution!r}"
        )
    fine = session.execute(
        sa.select(Fine).where(Fine.id == adj.fine_id).with_for_update()
    ).scalar_one()
    if adj.kind == AdjustmentKind.balance_due:
        if fine.status != FineStatus.issued:
            raise Conflict(
                f"fine {fine.reference}: is {fine.status}; the balance no longer applies"
            )
        if resolution == "waived":
            _close_paid(session, fine, f"waived:{adj.id}", now)
        else:
            fine.paid_cents = 0  # every part payment of this fine went back
    adj.status = AdjustmentStatus.settled
    adj.resolution = resolution
    adj.settled_at = now
    adj.settled_by = actor.label[:128]
    adj.note = note
    audit.record(
        session, actor.label, "payment.settle", f"fine:{fine.reference}",
        {"adjustment": adj.id, "kind": adj.kind, "resolution": resolution,
         "amount_cents": adj.amount_cents, "note": note[:500]},
    )  # fmt: skip
    return adj


@dataclass(frozen=True)
class OpenItems:
    adjustments: list[tuple[PaymentAdjustment, str]]  # with the fine's reference
    lines: list[StatementLine]  # unmatched / ambiguous statement lines


def open_items(session: Session, actor: Actor, limit: int = 200) -> OpenItems:
    """What a person must look at: open refund/balance records and statement lines that
    matched no fine. Audited (statement lines name the payer)."""
    require_role(actor, *LIST_ROLES)
    adjs = list(
        session.execute(
            sa.select(PaymentAdjustment, Fine.reference)
            .join(Fine, Fine.id == PaymentAdjustment.fine_id)
            .where(PaymentAdjustment.status == AdjustmentStatus.open)
            .order_by(PaymentAdjustment.id)
            .limit(limit)
        ).all()
    )
    lines = list(
        session.execute(
            sa.select(StatementLine)
            .where(StatementLine.status.in_(OPEN_LINES))
            .order_by(StatementLine.id)
            .limit(limit)
        ).scalars()
    )
    audit.record(
        session, actor.label, "payment.list", "payments",
        {"adjustments": [a.id for a, _ in adjs], "statement_lines": [x.id for x in lines]},
    )  # fmt: skip
    return OpenItems(adjs, lines)


def assign_statement_line(
    session: Session, actor: Actor, line_id: int, reference: str, now: datetime | None = None
) -> PaymentResult:
    """A supervisor decides which fine an unmatched/ambiguous bank line paid."""
    require_role(actor, *SETTLE_ROLES)
    line = session.execute(
        sa.select(StatementLine).where(StatementLine.id == line_id).with_for_update()
    ).scalar()
    if line is None:
        raise NotFound(f"statement line {line_id}: not found")
    if line.status not in OPEN_LINES:
        raise Conflict(f"statement line {line_id}: already {line.status}")
    res = apply_payment(
        session,
        actor,
        IncomingPayment(
            channel="bank", provider="bank", payment_id=line.line_key, reference=reference,
            amount_cents=line.amount_cents, currency=line.currency,
            received_at=line.booked, details={"statement_line": line.id, "assigned": True},
        ),
        now,
    )  # fmt: skip
    line.status = StatementLineStatus.resolved
    line.fine_id = res.fine.id
    line.payment_id = res.payment.id
    line.reason = f"assigned to {res.fine.reference} by {actor.label}"[:200]
    return res


# --- checkout -------------------------------------------------------------------------------


def checkout_request(fine: Fine, base_url: str, description: str) -> CheckoutRequest:
    """What to ask the provider for: the fine's outstanding amount; Conflict if nothing
    can be paid now."""
    if fine.status != FineStatus.issued:
        raise Conflict(f"fine {fine.reference}: is {fine.status}, nothing to pay")
    owed = outstanding_cents(fine)
    if owed <= 0:
        raise Conflict(f"fine {fine.reference}: nothing outstanding")
    back = f"{base_url.rstrip('/')}/n/{fine.reference}"
    return CheckoutRequest(
        reference=fine.reference,
        amount_cents=owed,
        currency=fine.currency,
        description=description[:200],
        success_url=back + "?payment=done",
        cancel_url=back + "?payment=cancelled",
    )


def start_checkout(
    sessions: Any,
    actor: Actor,
    provider: CheckoutProvider,
    reference: str,
    base_url: str,
    description: str,
) -> CheckoutSession:
    """The notice holder's "Pay now": a checkout session with the provider for what is
    owed. The provider is called outside any database transaction; the session is
    audited. Nothing about the fine changes until the provider's signed webhook."""
    require_role(actor, *CHECKOUT_ROLES)
    with sessions() as s:
        req = checkout_request(fine_by_reference(s, reference, lock=False), base_url, description)
    cs = provider.create_checkout(req)
    with sessions.begin() as s:
        audit.record(
            s, actor.label, "payment.checkout", f"fine:{reference}",
            {"provider": provider.name, "session": cs.session_id, "amount_cents": req.amount_cents},
        )  # fmt: skip
    return cs


# --- bank statements ------------------------------------------------------------------------

# A notice reference inside free remittance text, however the bank or the payer wrote
# it ("JW-ABCD-EFGH", "jw abcd efgh", "JWABCDEFGH"): compared with separators removed.
_REF_IN_TEXT = re.compile(r"JW([A-HJ-NP-Z2-9]{4})([A-HJ-NP-Z2-9]{4})")


def references_in(text: str) -> list[str]:
    compact = re.sub(r"[^A-Z0-9]", "", text.upper())
    found = []
    for m in _REF_IN_TEXT.finditer(compact):
        ref = f"JW-{m.group(1)}-{m.group(2)}"
        if ref not in found:
            found.append(ref)
    return found


@dataclass(frozen=True)
class LineOutcome:
    entry: StatementEntry
    status: str  # matched | unmatched | ambiguous | duplicate (imported before) | debit
    reason: str
    reference: str | None = None
    payment_outcome: str | None = None  # paid | partial | overpaid | not_due | currency


def import_entries(
    session: Session,
    actor: Actor,
    statement: Statement,
    entries: list[StatementEntry],
    now: datetime | None = None,
) -> list[LineOutcome]:
    """Import some credit lines of ``statement`` in one transaction: each is matched by
    the notice reference in its text (exactly one existing fine) and paid into it, or
    stored as unmatched/ambiguous for a person. A line imported before is skipped."""
    require_role(actor, *PAYMENT_ROLES)
    now = now or utcnow()
    out = []
    for e in entries:
        if e.amount_cents <= 0:
            out.append(LineOutcome(e, "debit", "not a credit"))
            continue
        seen = session.execute(
            sa.select(StatementLine.status).where(StatementLine.line_key == e.key)
        ).scalar()
        if seen is not None:
            out.append(LineOutcome(e, "duplicate", f"imported before ({seen})"))
            continue
        refs = references_in(e.remittance)
        known = (
            list(
                session.execute(sa.select(Fine.reference).where(Fine.reference.in_(refs))).scalars()
            )
            if refs
            else []
        )
        line = StatementLine(
            line_key=e.key, source=statement.source, file_name=statement.file_name[:200],
            file_sha256=statement.sha256, line_no=e.line_no, booked=e.booked_at,
            amount_cents=e.amount_cents, currency=e.currency, remittance=e.remittance[:500],
            counterparty=e.counterparty[:200], bank_ref=e.bank_ref,
            status=StatementLineStatus.unmatched, reason="", imported_at=now,
            imported_by=actor.label[:128],
        )  # fmt: skip
        if len(refs) > 1:  # the payer wrote several: a person decides what this paid
            line.status, line.reason = (
                StatementLineStatus.ambiguous,
                f"several notice references: {', '.join(refs)} (known: "
                f"{', '.join(known) or 'none'})"[:200],
            )
        elif not known:
            line.reason = (
                f"reference {', '.join(refs)} is no notice" if refs else "no notice reference found"
            )[:200]
        session.add(line)
        session.flush()
        if len(refs) > 1 or len(known) != 1:
            out.append(LineOutcome(e, line.status, line.reason))
            continue
        res = apply_payment(
            session, actor,
            IncomingPayment(
                channel="bank", provider="bank", payment_id=e.key, reference=known[0],
                amount_cents=e.amount_cents, currency=e.currency, received_at=e.booked_at,
                details={"statement": statement.file_name[:200], "line": e.line_no,
                         "bank_ref": e.bank_ref, "statement_line": line.id},
            ),
            now,
        )  # fmt: skip
        line.status = StatementLineStatus.matched
        line.fine_id = res.fine.id
        line.payment_id = res.payment.id
        line.reason = res.payment.outcome
        out.append(LineOutcome(e, "matched", res.payment.outcome, known[0], res.payment.outcome))
    return out


def import_statement(
    tx: Any,
    actor: Actor,
    statement: Statement,
    progress: Any = None,
    batch: int = 200,
) -> list[LineOutcome]:
    """Import every line of ``statement``, ``batch`` lines per transaction (each line is
    idempotent, so an import stopped half way is simply run again); ``progress(n)`` is
    called after each batch with the lines done in it."""
    out: list[LineOutcome] = []
    entries = statement.entries
    for i in range(0, len(entries), batch):
        chunk = entries[i : i + batch]
        with tx() as s:
            got = import_entries(s, actor, statement, chunk)
            if i == 0:
                audit.record(
                    s, actor.label, "payment.import", f"statement:{statement.sha256[:16]}",
                    {"file": statement.file_name[:200], "source": statement.source,
                     "lines": len(entries)},
                )  # fmt: skip
        out.extend(got)
        if progress is not None:
            progress(len(chunk))
    return out


def fine_reference(session: Session, fine_id: int) -> str:
    return session.execute(sa.select(Fine.reference).where(Fine.id == fine_id)).scalar_one()
