"""SQLAlchemy 2 models. The schema itself is owned by the Alembic migrations in
central/migrations; a test checks that the two agree.

Times are stored as naive UTC and always returned timezone-aware (``UTCDateTime``),
so SQLite and PostgreSQL behave the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from central.store.status import NoticeStatus


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass timezone-aware UTC times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: sa.JSON,
        list[Any]: sa.JSON,
    }


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    mqtt_username: Mapped[str] = mapped_column(sa.String(128), unique=True)
    place: Mapped[str] = mapped_column(sa.String(200), default="")
    cameras: Mapped[list[Any]] = mapped_column(default=list)  # [{"camera_id", "place"}]
    registered: Mapped[datetime] = mapped_column(default=utcnow)
    disabled: Mapped[bool] = mapped_column(default=False)
    # Health, from DeviceStatus heartbeats.
    last_seen: Mapped[datetime | None]
    online: Mapped[bool | None]
    outbox_depth: Mapped[int | None]
    status: Mapped[dict[str, Any] | None]
    # Snapshots dropped because they came faster than ingest.snapshot_min_interval_s for
    # their camera (a device flooding its snapshot topic), and when the last one was.
    snapshots_dropped: Mapped[int] = mapped_column(default=0, server_default="0")
    snapshots_dropped_last: Mapped[datetime | None]


class CameraSnapshot(Base):
    """The LATEST anonymised thumbnail of one camera (issue 17): overwritten by each newer
    one, never a history (data minimisation), deleted with its device (ON DELETE CASCADE).
    ``jpeg`` is central's own re-encoding of what the gateway sent (no metadata)."""

    __tablename__ = "camera_snapshots"
    device_id: Mapped[str] = mapped_column(
        sa.ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    camera_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    taken: Mapped[datetime]  # the frame's time, as the gateway signed it
    received: Mapped[datetime]
    width: Mapped[int]
    height: Mapped[int]
    blurred_people: Mapped[int] = mapped_column(default=0)
    blurred_faces: Mapped[int] = mapped_column(default=0)
    jpeg: Mapped[bytes] = mapped_column(sa.LargeBinary)


class Person(Base):
    __tablename__ = "persons"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    phone: Mapped[str | None] = mapped_column(sa.String(20))  # E.164
    lawful_basis: Mapped[str] = mapped_column(sa.String(200))
    enrolled: Mapped[datetime] = mapped_column(default=utcnow)
    erased_at: Mapped[datetime | None]


class Event(Base):
    __tablename__ = "events"
    # The review queue's keyset pages: one index per sort order (migration queue_0001).
    __table_args__ = (
        sa.Index("ix_events_status_occurred_id", "status", "occurred", "id"),
        sa.Index("ix_events_status_received_id", "status", "received", "id"),
        sa.Index("ix_events_status_score_id", "status", "match_score", "id"),
        sa.Index("ix_events_status_decided_id", "status", "decided_at", "id"),
        sa.Index("ix_events_camera_occurred", "device_id", "camera_id", "occurred"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    device_id: Mapped[str] = mapped_column(sa.ForeignKey("devices.id"), index=True)
    camera_id: Mapped[str] = mapped_column(sa.String(64))
    occurred: Mapped[datetime] = mapped_column(index=True)
    received: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    offence_code: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    reason_code: Mapped[str | None] = mapped_column(sa.String(32))
    match_person_id: Mapped[str | None] = mapped_column(sa.ForeignKey("persons.id"), index=True)
    match_score: Mapped[float | None]
    # The runner-ups the gateway's matcher ranked (issue 17), for the reviewer's face
    # comparison only: [{"person_id", "score"}], best first, persons enrolled here. Set
    # only with a match; cleared with the event's identification data (retention, the
    # match's erasure) and an erased person leaves every list (migration alternatives_0001).
    match_alternatives: Mapped[list[Any] | None] = mapped_column(sa.JSON(none_as_null=True))
    payload: Mapped[dict[str, Any]]  # the signed message, images replaced by sha256 refs
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    # The signed message as it arrived (images inline), in the evidence store under this
    # name; None for events stored before it was kept, and once retention purged it.
    message_sha256: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    # Set when a read found evidence bytes that do not match their signed sha256: the
    # event cannot be confirmed until `evidence verify` finds it whole again.
    evidence_altered_at: Mapped[datetime | None]
    evidence_problems: Mapped[list[Any] | None]


class EventStatusCount(Base):
    """A signed delta of the number of events in ``status``, written only by the database's
    trigger on ``events`` (migration queue_0002) in the changing transaction; the count is
    the sum of a status's rows (central/store/status_counts.py), exact without COUNT(*)."""

    __tablename__ = "event_status_counts"
    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    status: Mapped[str] = mapped_column(sa.String(32), index=True)
    n: Mapped[int] = mapped_column(sa.BigInteger)


class CaseClaim(Base):
    """An operator reviewing an event holds it until ``expires`` (a lease the open page
    renews); others see who, ``/next`` skips it, and only the holder may decide. In the
    database, so every central process sees the same claims."""

    __tablename__ = "case_claims"
    event_pk: Mapped[int] = mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    holder: Mapped[str] = mapped_column(sa.String(128))  # Actor.label
    holder_name: Mapped[str] = mapped_column(sa.String(64))  # shown to others
    claimed_at: Mapped[datetime]
    expires: Mapped[datetime] = mapped_column(index=True)


class Evidence(Base):
    __tablename__ = "evidence"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_pk: Mapped[int] = mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    role: Mapped[str] = mapped_column(sa.String(16))
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    size: Mapped[int]


class ReviewConfirmation(Base):
    """One operator's confirmation of an event: ``first`` (a second reviewer must follow)
    or ``final`` (its sanction is issued at ``effective_at``, the end of the undo window,
    unless ``undone_at`` is set first). Rows are kept: they are the four-eyes record."""

    __tablename__ = "review_confirmations"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_pk: Mapped[int] = mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    stage: Mapped[str] = mapped_column(sa.String(8))  # ConfirmationStage
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(sa.String(128))  # Actor.label
    at: Mapped[datetime]
    effective_at: Mapped[datetime | None] = mapped_column(index=True)  # final only
    undone_at: Mapped[datetime | None]


class Fine(Base):
    __tablename__ = "fines"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(32), unique=True)
    access_code_hash: Mapped[str] = mapped_column(sa.String(64))
    # unique: one fine per event, whatever happens upstream.
    event_pk: Mapped[int] = mapped_column(sa.ForeignKey("events.id"), unique=True)
    person_id: Mapped[str] = mapped_column(sa.ForeignKey("persons.id"), index=True)
    offence_code: Mapped[str] = mapped_column(sa.String(32))
    amount_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(sa.String(3))
    points: Mapped[int]
    occurred: Mapped[datetime]
    issued: Mapped[datetime]
    due: Mapped[datetime]
    status: Mapped[str] = mapped_column(sa.String(8), index=True)
    payment_ref: Mapped[str | None] = mapped_column(sa.String(128), unique=True)
    paid_at: Mapped[datetime | None]
    # Money credited to this fine so far (integer cents, the fine's currency): payments
    # while it was open, less part payments a supervisor refunded.
    paid_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    voided_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class LedgerEntry(Base):
    """Score ledger: deductions (with expiry) and restorations that cancel one."""

    __tablename__ = "ledger"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[str] = mapped_column(sa.ForeignKey("persons.id"), index=True)
    fine_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fines.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))  # deduction | restoration
    points: Mapped[int]
    created: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    restores_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ledger.id"), unique=True)
    reason: Mapped[str] = mapped_column(sa.String(200), default="")


class Appeal(Base):
    __tablename__ = "appeals"
    id: Mapped[int] = mapped_column(primary_key=True)
    fine_id: Mapped[int] = mapped_column(sa.ForeignKey("fines.id"), index=True)
    submitted: Mapped[datetime] = mapped_column(default=utcnow)
    grounds: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(sa.Text, default="")  # the supervisor's reasons
    # 1: the appeal; 2: the appellant contests the denial of ``parent_id`` (another
    # supervisor decides).
    level: Mapped[int] = mapped_column(default=1)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("appeals.id"), unique=True)
    # The supervisor who took it under review, and when.
    reviewer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    review_started_at: Mapped[datetime | None]
    # The fine's due date when the appeal was filed (it is paused meanwhile) and the one
    # set by a denial.
    due_before: Mapped[datetime | None]
    new_due: Mapped[datetime | None]


class AppealAttachment(Base):
    """A file the appellant sent with an appeal: a photo (re-encoded, metadata dropped)
    or a PDF (as sent), in the content-addressed evidence store under ``sha256``."""

    __tablename__ = "appeal_attachments"
    __table_args__ = (
        sa.UniqueConstraint("appeal_id", "position", name="uq_appeal_attachments_position"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(sa.ForeignKey("appeals.id"), index=True)
    position: Mapped[int]  # 1, 2, ... in the order sent
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    size: Mapped[int]
    media_type: Mapped[str] = mapped_column(sa.String(32))  # image/jpeg|image/png|application/pdf
    filename: Mapped[str] = mapped_column(sa.String(100))  # as sent, cleaned; shown only
    # The bytes as uploaded (before re-encoding a photo): what the person sent.
    original_sha256: Mapped[str] = mapped_column(sa.String(64))
    original_size: Mapped[int]
    width: Mapped[int | None]
    height: Mapped[int | None]
    pages: Mapped[int | None]
    added: Mapped[datetime] = mapped_column(default=utcnow)


class DisplayEntry(Base):
    """One anonymised line on public screens; withdrawn when paid or appeal upheld."""

    __tablename__ = "display_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    fine_id: Mapped[int] = mapped_column(sa.ForeignKey("fines.id"), unique=True)
    place: Mapped[str] = mapped_column(sa.String(200))
    occurred: Mapped[datetime]
    offence: Mapped[str] = mapped_column(sa.String(200))
    fine_text: Mapped[str] = mapped_column(sa.String(64))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(index=True)


class Notice(Base):
    """SMS outbox, written in the decision's transaction; an SMS sender drains it."""

    __tablename__ = "notices"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[str] = mapped_column(sa.ForeignKey("persons.id"), index=True)
    fine_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fines.id"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    params: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(sa.String(16), default=NoticeStatus.pending, index=True)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)


# Rows whose payload is longer than this can be cut by eviction (central/ingest/store.py
# EVICTED_KEEP); a partial index on them keeps the eviction's search O(rows cut).
DEAD_LETTER_CUT_TO = 4096
_CUTTABLE = sa.text(f"length(raw) > {DEAD_LETTER_CUT_TO}")


class DeadLetter(Base):
    """One row per distinct bad message: (topic, sha256 of the whole payload) is unique, so
    a batch retried after an outage, a broker redelivery or an edge re-sending the same
    bytes never adds a second row (the first row, with its first reason, is kept).

    A **coalesced** row (``group_key`` set, unique per topic) stands for ``messages``
    distinct bad messages on one topic with the same kind of reason, ``received`` ..
    ``last_received``; it keeps the first one's reason and the first 4 KiB of its payload
    as a sample (central/ingest/store.py: a topic over its row budget, or the total cap)."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        sa.UniqueConstraint("topic", "sha256", name="uq_dead_letters_topic_sha256"),
        sa.UniqueConstraint("topic", "group_key", name="uq_dead_letters_topic_group"),
        sa.Index(
            "ix_dead_letters_cuttable", "id", sqlite_where=_CUTTABLE, postgresql_where=_CUTTABLE
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    received: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    topic: Mapped[str] = mapped_column(sa.String(512))
    reason: Mapped[str] = mapped_column(sa.Text)
    raw: Mapped[bytes] = mapped_column(sa.LargeBinary)  # first N bytes
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    messages: Mapped[int] = mapped_column(default=1, server_default="1")
    last_received: Mapped[datetime | None]
    group_key: Mapped[str | None] = mapped_column(sa.String(80))


class DeadLetterBytes(Base):
    """A signed delta of the payload bytes all dead letters keep, written only by the
    database's triggers on ``dead_letters`` (migration dead_letters_0002) in the changing
    transaction; the total is the sum (central/store/dead_letter_bytes.py), so the cap
    check costs a sum over a few rows instead of ``SUM(length(raw))`` over every row."""

    __tablename__ = "dead_letter_bytes"
    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    n: Mapped[int] = mapped_column(sa.BigInteger)


class AuditEntry(Base):
    """Append-only hash chain: ``hash = sha256(canonical(entry incl. prev_hash))``.
    ``prev_hash`` is unique, so two writers can never fork the chain."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(64))
    target: Mapped[str] = mapped_column(sa.String(200))
    details: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    hash: Mapped[str] = mapped_column(sa.String(64))


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(16))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    disabled: Mapped[bool] = mapped_column(default=False)
    # The console's single-key shortcuts (WCAG 2.1.4: a user can switch them off). Kept
    # on the account, not in one browser, so the choice follows the person to any desk.
    keyboard_shortcuts: Mapped[bool] = mapped_column(default=True, server_default=sa.true())


class ApiSession(Base):
    __tablename__ = "api_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    expires: Mapped[datetime] = mapped_column(index=True)


class GalleryVersion(Base):
    """One gallery snapshot (an upload, or the previous one minus an erased person);
    edges learn the number over MQTT (retained) and fetch the file by its token."""

    __tablename__ = "gallery_versions"
    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(sa.String(64))
    person_ids_sha256: Mapped[str] = mapped_column(sa.String(64))
    # sha256 of the stored file (its name in the content-addressed store; announced);
    # None for rows written before snapshots existed, or once an erasure deleted the file.
    snapshot_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    # Secret part of the download URL: only readers of the retained announcement (devices,
    # by the broker ACL) learn it. None: no download.
    download_token: Mapped[str | None] = mapped_column(sa.String(64))
    # When the broker accepted (PUBACK) this version's retained announcement; None while
    # it is pending (stored while the broker was down): `central serve` retries until set.
    announced_at: Mapped[datetime | None] = mapped_column()


class PersonPhoto(Base):
    """An enrolment (reference) photo of a person, shown to reviewers beside the captured
    face. The bytes live in the content-addressed evidence store under ``sha256``; the row
    and the bytes go when the person is erased (central.workflow.photos)."""

    __tablename__ = "person_photos"
    __table_args__ = (
        sa.UniqueConstraint("person_id", "sha256", name="uq_person_photos_person_sha256"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[str] = mapped_column(sa.ForeignKey("persons.id"), index=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    size: Mapped[int]
    media_type: Mapped[str] = mapped_column(sa.String(16))  # image/jpeg | image/png
    width: Mapped[int]
    height: Mapped[int]
    added: Mapped[datetime] = mapped_column(default=utcnow)
    added_by: Mapped[str] = mapped_column(sa.String(128))
    # The face crop (central/faces/crop.py), made at upload: status None = not tried yet
    # (photos from before the crop existed), "found" (face_sha256, face_box [x, y, w, h]
    # in the original's pixels), "none" (no face found: the original is shown).
    face_status: Mapped[str | None] = mapped_column(sa.String(16), default=None)
    face_sha256: Mapped[str | None] = mapped_column(sa.String(64), default=None, index=True)
    face_box: Mapped[list | None] = mapped_column(sa.JSON, default=None)


class RateLimit(Base):
    """One throttle bucket of the HTTP front door (central/frontdoor/ratelimit.py), shared
    by every central process. GCRA: the bucket is full again at ``tat_ms`` (its
    "theoretical arrival time", epoch milliseconds), so a row whose ``tat_ms`` has passed
    means nothing and is pruned. ``key`` is a sha256, never the account name or address."""

    __tablename__ = "rate_limits"
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tat_ms: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    # The rule's parameters as of the last attempt (the upsert reads them from EXCLUDED)
    # and whether that attempt was allowed (1) or refused (0).
    interval_ms: Mapped[int] = mapped_column(sa.BigInteger)
    tolerance_ms: Mapped[int] = mapped_column(sa.BigInteger)
    allowed: Mapped[int] = mapped_column(sa.SmallInteger)


class EvidenceScrub(Base):
    """One run of ``jaywatch central evidence verify --all`` (the periodic scrub)."""

    __tablename__ = "evidence_scrubs"
    id: Mapped[int] = mapped_column(primary_key=True)
    started: Mapped[datetime]
    finished: Mapped[datetime]
    actor: Mapped[str] = mapped_column(sa.String(128))
    events_checked: Mapped[int]
    events_failed: Mapped[int]
    failed: Mapped[list[Any]]  # [{"event_id", "problems": [...]}], at most a few hundred


class Payment(Base):
    """Money received for a fine, from a checkout provider's signed webhook, a bank
    statement line or a cashier. ``(provider, provider_payment_id)`` is unique: a
    redelivered webhook, a statement imported twice or a receipt entered twice never
    counts twice."""

    __tablename__ = "payments"
    __table_args__ = (
        sa.UniqueConstraint("provider", "provider_payment_id", name="uq_payments_provider_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    fine_id: Mapped[int] = mapped_column(sa.ForeignKey("fines.id"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(16))  # checkout | bank | staff
    provider: Mapped[str] = mapped_column(sa.String(32))  # provider name | bank | staff
    provider_payment_id: Mapped[str] = mapped_column(sa.String(128))
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    received_at: Mapped[datetime]  # the provider's / bank's time, else when recorded
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[str] = mapped_column(sa.String(128))
    # paid | partial | overpaid | not_due (fine paid/void already) | currency (wrong one)
    outcome: Mapped[str] = mapped_column(sa.String(16))
    receipt_no: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class PaymentAdjustment(Base):
    """Money to give back (``refund_due``: overpaid, paid after a void, wrong currency)
    or still owed (``balance_due``: part payment), open until a supervisor settles it
    (a balance is also closed by the payment that covers it)."""

    __tablename__ = "payment_adjustments"
    id: Mapped[int] = mapped_column(primary_key=True)
    fine_id: Mapped[int] = mapped_column(sa.ForeignKey("fines.id"), index=True)
    payment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payments.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))  # refund_due | balance_due
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    reason: Mapped[str] = mapped_column(sa.String(200))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    # open | settled (by a supervisor) | covered (a later payment paid the balance)
    status: Mapped[str] = mapped_column(sa.String(16), default="open", index=True)
    settled_at: Mapped[datetime | None]
    settled_by: Mapped[str | None] = mapped_column(sa.String(128))
    resolution: Mapped[str | None] = mapped_column(sa.String(16))  # refunded | waived
    note: Mapped[str] = mapped_column(sa.Text, default="")


class StatementLine(Base):
    """One credit line of an imported bank statement (CSV or camt.053). ``line_key`` is
    the bank's own reference for the entry, else a hash of its content and position, so
    importing the same statement again adds nothing."""

    __tablename__ = "statement_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    line_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    source: Mapped[str] = mapped_column(sa.String(16))  # csv | camt053
    file_name: Mapped[str] = mapped_column(sa.String(200))
    file_sha256: Mapped[str] = mapped_column(sa.String(64))
    line_no: Mapped[int]
    booked: Mapped[datetime | None]
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    remittance: Mapped[str] = mapped_column(sa.String(500))
    counterparty: Mapped[str] = mapped_column(sa.String(200))
    bank_ref: Mapped[str | None] = mapped_column(sa.String(128))
    # matched | unmatched | ambiguous | resolved (a supervisor assigned it to a fine)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    reason: Mapped[str] = mapped_column(sa.String(200))
    fine_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fines.id"))
    payment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payments.id"))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    imported_by: Mapped[str] = mapped_column(sa.String(128))
