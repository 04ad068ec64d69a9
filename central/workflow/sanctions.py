"""After a fine exists: payments and the public display feed (appeals:
central/workflow/appeals.py).

Paying or winning an appeal withdraws the display entry in the same transaction
(principle 4: the record is cleared at once, everywhere).
"""

from __future__ import annotations

import hmac
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central import audit
from central.auth.roles import Permission, roles_for
from central.fines import format_money
from central.store.models import DisplayEntry, Fine, Notice, utcnow
from central.store.status import FineStatus
from central.workflow.common import Actor, Conflict, NotFound, hash_code, require_role
from jaywatch.wire import DisplayItem

PAYMENT_ROLES = roles_for(Permission.payment_record)


def fine_by_reference(session: Session, reference: str, lock: bool = True) -> Fine:
    q = sa.select(Fine).where(Fine.reference == reference)
    if lock:
        q = q.with_for_update()
    f = session.execute(q).scalar()
    if f is None:
        raise NotFound(f"fine {reference}: not found")
    return f


def check_access_code(session: Session, reference: str, code: str) -> Fine | None:
    """The fine if reference and code match, else None — one answer for both failures
    so a caller cannot learn which references exist."""
    f = session.execute(sa.select(Fine).where(Fine.reference == reference.strip())).scalar()
    expected = f.access_code_hash if f else hash_code("\x00never")
    ok = hmac.compare_digest(expected, hash_code(code))
    return f if (f is not None and ok) else None


def _withdraw_display(session: Session, fine_id: int, now: datetime) -> None:
    session.execute(
        sa.update(DisplayEntry)
        .where(DisplayEntry.fine_id == fine_id, DisplayEntry.withdrawn_at.is_(None))
        .values(withdrawn_at=now)
    )


def record_payment(
    session: Session,
    actor: Actor,
    reference: str,
    payment_ref: str,
    amount_cents: int,
    now: datetime | None = None,
) -> tuple[Fine, bool]:
    """Record a payment; idempotent on ``payment_ref``. Returns (fine, newly_recorded)."""
    require_role(actor, *PAYMENT_ROLES)
    now = now or utcnow()
    payment_ref = payment_ref.strip()
    if not payment_ref:
        raise ValueError("payment_ref: required")
    other = session.execute(sa.select(Fine).where(Fine.payment_ref == payment_ref)).scalar()
    fine = fine_by_reference(session, reference)
    if other is not None:
        if other.id == fine.id:
            return fine, False  # the same payment reported again
        raise Conflict(f"payment {payment_ref}: already recorded for another fine")
    if fine.status != FineStatus.issued:
        raise Conflict(f"fine {reference}: is {fine.status}, cannot be paid")
    if amount_cents != fine.amount_cents:
        raise Conflict(
            f"amount: expected {format_money(fine.amount_cents, fine.currency)}, "
            f"got {format_money(amount_cents, fine.currency)}"
        )
    fine.status = FineStatus.paid
    fine.payment_ref = payment_ref
    fine.paid_at = now
    fine.closed_at = now
    _withdraw_display(session, fine.id, now)
    session.add(
        Notice(
            person_id=fine.person_id,
            fine_id=fine.id,
            kind="payment_received",
            params={
                "reference": fine.reference,
                "amount": format_money(amount_cents, fine.currency),
            },
            created=now,
        )
    )
    audit.record(
        session, actor.label, "fine.pay", f"fine:{reference}", {"payment_ref": payment_ref}
    )
    return fine, True


def display_feed(
    session: Session, limit: int = 50, withdrawn_since: datetime | None = None
) -> list[DisplayItem]:
    """Anonymised items for public screens, newest first: never a name, phone or face.

    With ``withdrawn_since`` the feed also lists items withdrawn after that time
    (``withdrawn=True``) so a screen removes them at once.
    """
    cond = DisplayEntry.withdrawn_at.is_(None)
    if withdrawn_since is not None:
        cond = sa.or_(cond, DisplayEntry.withdrawn_at > withdrawn_since)
    rows = session.execute(
        sa.select(DisplayEntry).where(cond).order_by(DisplayEntry.occurred.desc()).limit(limit)
    ).scalars()
    return [
        DisplayItem(
            item_id=r.item_id,
            place=r.place,
            occurred=r.occurred,
            offence=r.offence,
            fine=r.fine_text,
            withdrawn=r.withdrawn_at is not None,
        )
        for r in rows
    ]
