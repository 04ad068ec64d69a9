"""Delivery receipts → notice status. Shared by the SMPP pump (worker) and the HTTP
callbacks the API receives from gateways (``apply_receipt`` in its own transaction)."""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.notices.models import NoticeDelivery, NoticePart, lock_for_write
from central.notices.providers.base import DELIVERED as R_DELIVERED
from central.notices.providers.base import FINAL_FAILURES, DeliveryReceipt
from central.store.models import Notice, utcnow
from central.store.status import NoticeStatus

log = logging.getLogger(__name__)
FINAL_STATES = FINAL_FAILURES | {R_DELIVERED}


def apply_receipt(
    session: Session, provider: str, receipt: DeliveryReceipt, now: datetime | None = None
) -> int | None:
    """Record one receipt; returns the notice id, or None for an unknown message id.

    All parts delivered → notice 'delivered'. Any part finally failed (undeliverable,
    expired, rejected) → 'paper_required': the person still gets the notice, on paper.
    """
    now = now or utcnow()
    lock_for_write(session)
    part = session.execute(
        sa.select(NoticePart)
        .where(NoticePart.provider == provider, NoticePart.message_id == receipt.message_id)
        .order_by(NoticePart.id.desc())  # ids get reused: the newest part is meant
        .limit(1)
    ).scalar_one_or_none()
    if part is None:
        log.warning(
            "receipt for unknown %s message id %r (%s)", provider, receipt.message_id, receipt.state
        )
        return None
    if part.state in FINAL_STATES:
        # A part's final state stands: a replayed or late earlier receipt ("enroute"
        # after "delivered") or a contradicting one changes nothing.
        if part.state != receipt.state[:16]:
            log.warning(
                "receipt %s for %s message id %r ignored: the part is already %s",
                receipt.state, provider, receipt.message_id, part.state,
            )  # fmt: skip
        return part.notice_id
    part.state = receipt.state[:16]
    part.receipt_at = receipt.at or now
    part.error = (receipt.error or None) and receipt.error[:200]
    notice = session.get(Notice, part.notice_id, with_for_update=True)
    delivery = session.get(NoticeDelivery, part.notice_id)
    assert notice is not None
    if delivery is not None:
        delivery.delivery_state = receipt.state[:16]
    if receipt.state in FINAL_FAILURES:
        if notice.status in (
            NoticeStatus.sent,
            NoticeStatus.delivered,
            NoticeStatus.check_required,
        ):
            notice.status = NoticeStatus.paper_required
            notice.last_error = (
                f"receipt: part {part.part_no} {receipt.state}"
                + (f" (error {receipt.error})" if receipt.error else "")
                + ": send the notice on paper"
            )
        return notice.id
    if receipt.state == R_DELIVERED and notice.status == NoticeStatus.sent:
        states = (
            session.execute(sa.select(NoticePart.state).where(NoticePart.notice_id == notice.id))
            .scalars()
            .all()
        )
        expected = delivery.part_count if delivery and delivery.part_count else len(states)
        if len(states) >= expected and all(s == R_DELIVERED for s in states):
            notice.status = NoticeStatus.delivered
            if delivery is not None:
                delivery.delivered_at = receipt.at or now
    return notice.id
