"""Tables of the SMS sender, beside the outbox (``notices``) the workflow writes.

``notice_deliveries``: one row per notice, written BEFORE anything is sent (claim),
holding what is about to be submitted (destination, text, idempotency key) and the
retry schedule. ``notice_parts``: one row per SMS part the provider accepted, with its
message id, so delivery receipts find their notice.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from central.store.models import Base

# Notice.status values: central.store.status.NoticeStatus.


class NoticeDelivery(Base):
    __tablename__ = "notice_deliveries"
    notice_id: Mapped[int] = mapped_column(
        sa.ForeignKey("notices.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(sa.String(16))
    idempotency_key: Mapped[str] = mapped_column(sa.String(64))
    to_e164: Mapped[str | None] = mapped_column(sa.String(20))
    language: Mapped[str | None] = mapped_column(sa.String(16))
    text: Mapped[str | None] = mapped_column(sa.Text)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(128))
    claimed_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    submitted_at: Mapped[datetime | None]
    part_count: Mapped[int | None]
    delivered_at: Mapped[datetime | None]
    delivery_state: Mapped[str | None] = mapped_column(sa.String(16))  # last receipt state


class NoticePart(Base):
    __tablename__ = "notice_parts"
    # Not unique: SMSCs reuse message ids (counters wrap, restart from 1); a receipt
    # belongs to the newest part with that id.
    __table_args__ = (sa.Index("ix_notice_parts_provider_message_id", "provider", "message_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(
        sa.ForeignKey("notices.id", ondelete="CASCADE"), index=True
    )
    part_no: Mapped[int]
    provider: Mapped[str] = mapped_column(sa.String(16))
    message_id: Mapped[str] = mapped_column(sa.String(128))
    submitted_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(sa.String(16), default="submitted")
    receipt_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(sa.String(200))


def lock_for_write(session: Session) -> None:
    """On SQLite, take the database write lock as the transaction's first statement.

    A deferred SQLite transaction that reads first and writes later fails at once with
    "database is locked" if another writer committed in between (its snapshot is stale;
    busy_timeout cannot help). Every read-then-write transaction here starts with this.
    No-op on PostgreSQL, where row locks do the job.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.text("UPDATE notices SET attempts = attempts WHERE 0"))
