"""What operators see and decide about notices: status per notice, counts, and the
resolution of notices whose submission was interrupted ('check_required')."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central import audit
from central.notices.models import NoticeDelivery, NoticePart, lock_for_write
from central.store.models import Notice, utcnow
from central.store.status import NoticeStatus


@dataclass(frozen=True)
class NoticeReport:
    notice_id: int
    person_id: str
    fine_id: int | None
    kind: str
    status: str
    attempts: int
    created: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    provider: str | None
    to_e164: str | None
    language: str | None
    parts: int
    parts_delivered: int
    message_ids: list[str]
    last_error: str | None


def notice_statuses(
    session: Session,
    *,
    status: str | None = None,
    fine_id: int | None = None,
    person_id: str | None = None,
    notice_ids: list[int] | None = None,
    limit: int = 100,
) -> list[NoticeReport]:
    """Newest first, filtered as asked; includes provider ids and receipt progress."""
    q = (
        sa.select(Notice, NoticeDelivery)
        .outerjoin(NoticeDelivery, NoticeDelivery.notice_id == Notice.id)
        .order_by(Notice.id.desc())
        .limit(limit)
    )
    if status is not None:
        q = q.where(Notice.status == status)
    if fine_id is not None:
        q = q.where(Notice.fine_id == fine_id)
    if person_id is not None:
        q = q.where(Notice.person_id == person_id)
    if notice_ids is not None:
        q = q.where(Notice.id.in_(notice_ids))
    rows = session.execute(q).all()
    parts: dict[int, list[NoticePart]] = {}
    if rows:
        for p in session.execute(
            sa.select(NoticePart)
            .where(NoticePart.notice_id.in_([n.id for n, _ in rows]))
            .order_by(NoticePart.notice_id, NoticePart.part_no)
        ).scalars():
            parts.setdefault(p.notice_id, []).append(p)
    out = []
    for n, d in rows:
        ps = parts.get(n.id, [])
        out.append(
            NoticeReport(
                notice_id=n.id,
                person_id=n.person_id,
                fine_id=n.fine_id,
                kind=n.kind,
                status=n.status,
                attempts=n.attempts,
                created=n.created,
                sent_at=n.sent_at,
                delivered_at=d.delivered_at if d else None,
                next_attempt_at=d.next_attempt_at if d else None,
                provider=d.provider if d else None,
                to_e164=d.to_e164 if d else None,
                language=d.language if d else None,
                parts=len(ps),
                parts_delivered=sum(p.state == "delivered" for p in ps),
                message_ids=[p.message_id for p in ps],
                last_error=n.last_error,
            )
        )
    return out


def status_counts(session: Session) -> dict[str, int]:
    return dict(
        session.execute(sa.select(Notice.status, sa.func.count()).group_by(Notice.status)).all()
    )


def resolve_check(
    session: Session, notice_id: int, *, was_sent: bool, actor: str, note: str = ""
) -> Notice:
    """An operator's answer for a 'check_required' notice, after checking the provider:
    ``was_sent`` → 'sent'; otherwise back to 'pending' with a fresh idempotency key."""
    lock_for_write(session)
    n = session.get(Notice, notice_id, with_for_update=True)
    if n is None:
        raise LookupError(f"notice {notice_id}: not found")
    if n.status != NoticeStatus.check_required:
        raise ValueError(f"notice {notice_id}: is {n.status}, not {NoticeStatus.check_required}")
    d = session.get(NoticeDelivery, notice_id)
    now = utcnow()
    if was_sent:
        n.status, n.sent_at = NoticeStatus.sent, n.sent_at or now
    else:
        n.status = NoticeStatus.pending
        if d is not None:
            d.idempotency_key, d.next_attempt_at = "", None
    n.last_error = f"resolved by {actor}: {'was sent' if was_sent else 'resend'}" + (
        f" ({note})" if note else ""
    )
    audit.record(
        session,
        actor,
        "notice.resolve",
        f"notice:{notice_id}",
        {"was_sent": was_sent, "note": note},
    )
    return n
