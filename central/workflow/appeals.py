"""The appeal procedure, one set of functions for the API and the web pages.

Life of an appeal (``Appeal.status``)::

    pending (submitted) ──start_review──► under_review ──decide──► upheld | denied
         └────────────────────────decide─────────────────────────►

- Filed by the holder of the notice within ``appeals.window_days`` of the fine SMS's
  delivery receipt (else the time it was sent, else the fine's issue time), with a
  statement and up to ``appeals.max_attachments`` photos/PDFs (central/workflow/
  appeal_files.py), stored in the evidence store.
- While it is pending or under review the due date is paused: nothing may treat the
  fine as overdue (:func:`payment_paused`). Paying meanwhile is allowed and explained:
  an upheld appeal then leaves a refund due.
- Upheld: the fine is void, points restored, the display entry withdrawn (principle 4).
  Denied: a new due date (the time that was left when the appeal was filed, at least
  ``appeals.new_due_days``). The supervisor's reasons are required and go out in the
  decision SMS (so they are limited to ``appeals.reasons_max_chars``) and on the page.
- With ``appeals.second_level`` a denial may be contested once within
  ``appeals.second_level_window_days``; a different supervisor than the one who denied
  must review and decide it. Every step is audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central import audit
from central.auth.roles import Permission, roles_for
from central.config import AppealSettings
from central.notices.kinds import (
    AppealDenied,
    AppealReceived,
    AppealUpheld,
    NoticeParams,
    queue_notice,
)
from central.notices.models import NoticeDelivery
from central.store.evidence import EvidenceStore
from central.store.models import (
    Appeal,
    AppealAttachment,
    DisplayEntry,
    Fine,
    LedgerEntry,
    Notice,
    User,
    utcnow,
)
from central.store.status import APPEAL_OPEN, AppealStatus, FineStatus
from central.workflow.appeal_files import CheckedFile, check_file
from central.workflow.common import Actor, Conflict, Forbidden, NotFound, Rules, require_role
from central.workflow.payments import refund_paid_fine

APPEAL_SUBMIT_ROLES = roles_for(Permission.appeal_submit)
APPEAL_DECIDE_ROLES = roles_for(Permission.appeal_decide)
PENDING, UNDER_REVIEW = AppealStatus.pending, AppealStatus.under_review
UPHELD, DENIED = AppealStatus.upheld, AppealStatus.denied
OPEN = APPEAL_OPEN
MAX_GROUNDS = 5000
# What the person and staff read for each state.
STATE_LABELS = {
    PENDING: "submitted",
    UNDER_REVIEW: "under review",
    UPHELD: "upheld",
    DENIED: "denied",
}


@dataclass(frozen=True)
class AppealWindow:
    """When the right to appeal a fine started and ends; ``basis`` says what started it:
    'delivered' (the SMS's delivery receipt), 'sent' (no receipt) or 'issued' (no SMS)."""

    starts: datetime
    ends: datetime
    basis: str

    def is_open(self, now: datetime) -> bool:
        return now <= self.ends


@dataclass(frozen=True)
class AppealView:
    """One appeal as both sides see it."""

    appeal: Appeal
    state: str  # STATE_LABELS value
    attachments: list[AppealAttachment]
    decided_by: str | None
    reviewer: str | None


@dataclass(frozen=True)
class FileAppealState:
    """Everything the notice page and the public API show about a fine's appeals."""

    window: AppealWindow
    appeals: list[AppealView] = field(default_factory=list)  # oldest first
    can_appeal: bool = False
    can_contest: bool = False  # second-level review of a denial available now
    contest_by: datetime | None = None
    paused: bool = False  # an appeal is open: the due date is paused

    @property
    def latest(self) -> AppealView | None:
        return self.appeals[-1] if self.appeals else None


def _settings(rules: Rules) -> AppealSettings:
    return rules.appeals


def appeal_window(session: Session, fine: Fine, settings: AppealSettings) -> AppealWindow:
    """From the fine notice's delivery receipt, else its sent time, else the issue time."""
    row = session.execute(
        sa.select(Notice.sent_at, NoticeDelivery.delivered_at)
        .outerjoin(NoticeDelivery, NoticeDelivery.notice_id == Notice.id)
        .where(Notice.fine_id == fine.id, Notice.kind == "fine_issued")
        .order_by(Notice.id)
        .limit(1)
    ).first()
    if row is not None and row.delivered_at is not None:
        start, basis = row.delivered_at, "delivered"
    elif row is not None and row.sent_at is not None:
        start, basis = row.sent_at, "sent"
    else:
        start, basis = fine.issued, "issued"
    return AppealWindow(start, start + timedelta(days=settings.window_days), basis)


def _appeals_of(session: Session, fine_id: int) -> list[Appeal]:
    return list(
        session.execute(sa.select(Appeal).where(Appeal.fine_id == fine_id).order_by(Appeal.id))
        .scalars()
        .all()
    )


def contest_deadline(a: Appeal, settings: AppealSettings) -> datetime | None:
    """Until when a denied first-level appeal may be contested (None: it may not)."""
    if not settings.second_level or a.status != DENIED or a.level != 1 or a.decided_at is None:
        return None
    return a.decided_at + timedelta(days=settings.second_level_window_days)


def payment_paused(session: Session, fine_id: int) -> bool:
    """True while an appeal of the fine is open: its due date does not run, so nothing may
    treat the fine as overdue (reminders, surcharges, escalation) until it is decided."""
    return (
        session.execute(
            sa.select(Appeal.id).where(Appeal.fine_id == fine_id, Appeal.status.in_(OPEN))
        ).first()
        is not None
    )


def _usernames(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(sa.select(User.id, User.username).where(User.id.in_(ids))).all())


def view_appeals(session: Session, appeals: list[Appeal]) -> list[AppealView]:
    ids = {i for a in appeals for i in (a.decided_by, a.reviewer_id) if i is not None}
    names = _usernames(session, ids)
    files: dict[int, list[AppealAttachment]] = {}
    if appeals:
        for f in session.execute(
            sa.select(AppealAttachment)
            .where(AppealAttachment.appeal_id.in_([a.id for a in appeals]))
            .order_by(AppealAttachment.appeal_id, AppealAttachment.position)
        ).scalars():
            files.setdefault(f.appeal_id, []).append(f)
    return [
        AppealView(
            appeal=a,
            state=STATE_LABELS.get(a.status, a.status),
            attachments=files.get(a.id, []),
            decided_by=names.get(a.decided_by) if a.decided_by else None,
            reviewer=names.get(a.reviewer_id) if a.reviewer_id else None,
        )
        for a in appeals
    ]


def appeal_state(
    session: Session, fine: Fine, rules: Rules, now: datetime | None = None
) -> FileAppealState:
    now = now or utcnow()
    settings = _settings(rules)
    window = appeal_window(session, fine, settings)
    appeals = _appeals_of(session, fine.id)
    views = view_appeals(session, appeals)
    latest = appeals[-1] if appeals else None
    contest_by = contest_deadline(latest, settings) if latest is not None else None
    return FileAppealState(
        window=window,
        appeals=views,
        can_appeal=(
            not appeals
            and fine.status in (FineStatus.issued, FineStatus.paid)
            and window.is_open(now)
        ),
        can_contest=contest_by is not None
        and now <= contest_by
        and fine.status == FineStatus.issued,
        contest_by=contest_by,
        paused=latest is not None and latest.status in OPEN,
    )


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")


def submit_appeal(
    session: Session,
    actor: Actor,
    store: EvidenceStore,
    rules: Rules,
    reference: str,
    grounds: str,
    files: list[tuple[str, bytes]] | None = None,
    now: datetime | None = None,
) -> Appeal:
    """The person (or a supervisor on their behalf) appeals a fine within the window, once;
    or, with second-level review configured, contests the denial of that appeal, once.

    Every file is checked before anything is stored (none is kept if one is refused).

    Raises:
        ValueError: the statement or a file (named) is not acceptable.
        Conflict: the window has closed, or the fine cannot be appealed (again).
    """
    from central.workflow.sanctions import fine_by_reference

    require_role(actor, *APPEAL_SUBMIT_ROLES)
    settings = _settings(rules)
    now = now or utcnow()
    grounds = grounds.strip()
    if not grounds or len(grounds) > MAX_GROUNDS:
        raise ValueError(f"statement: required, at most {MAX_GROUNDS} characters")
    files = files or []
    if len(files) > settings.max_attachments:
        raise ValueError(
            f"attachments: {len(files)} files, at most {settings.max_attachments} allowed"
        )
    checked: list[CheckedFile] = [
        check_file(name, data, settings.max_attachment_bytes, settings.max_pdf_pages)
        for name, data in files
    ]
    fine = fine_by_reference(session, reference)
    earlier = _appeals_of(session, fine.id)
    parent: Appeal | None = None
    if earlier:
        last = earlier[-1]
        deadline = contest_deadline(last, settings)
        if last.status in OPEN:
            raise Conflict(f"fine {reference}: an appeal is already {STATE_LABELS[last.status]}")
        if deadline is None:
            raise Conflict(f"fine {reference}: already appealed ({last.status})")
        if now > deadline:
            raise Conflict(
                f"fine {reference}: the time to ask for a second review ended on {_fmt(deadline)}"
            )
        if fine.status != FineStatus.issued:
            raise Conflict(f"fine {reference}: is {fine.status}, cannot be contested")
        parent = last
    else:
        if fine.status not in (FineStatus.issued, FineStatus.paid):
            raise Conflict(f"fine {reference}: is {fine.status}, cannot be appealed")
        window = appeal_window(session, fine, settings)
        if not window.is_open(now):
            raise Conflict(
                f"fine {reference}: the time to appeal ended on {_fmt(window.ends)} "
                f"({settings.window_days} days after the notice was {window.basis})"
            )
    a = Appeal(
        fine_id=fine.id,
        grounds=grounds,
        status=PENDING,
        submitted=now,
        level=2 if parent is not None else 1,
        parent_id=parent.id if parent is not None else None,
        due_before=fine.due,
    )
    session.add(a)
    session.flush()
    for pos, c in enumerate(checked, start=1):
        sha = store.put(c.data)
        session.add(
            AppealAttachment(
                appeal_id=a.id,
                position=pos,
                sha256=sha,
                size=len(c.data),
                media_type=c.media_type,
                filename=c.filename,
                original_sha256=c.original_sha256,
                original_size=c.original_size,
                width=c.width,
                height=c.height,
                pages=c.pages,
                added=now,
            )
        )
    queue_notice(
        session,
        AppealReceived(reference=fine.reference, appeal=a.id),
        person_id=fine.person_id,
        fine_id=fine.id,
        created=now,
    )
    audit.record(
        session,
        actor.label,
        "appeal.submit" if parent is None else "appeal.contest",
        f"fine:{reference}",
        {
            "appeal": a.id,
            "level": a.level,
            "parent": a.parent_id,
            "attachments": [
                {"sha256": c.original_sha256, "type": c.media_type, "size": c.original_size}
                for c in checked
            ],
        },
    )
    return a


def _locked(session: Session, appeal_id: int) -> Appeal:
    a = session.execute(sa.select(Appeal).where(Appeal.id == appeal_id).with_for_update()).scalar()
    if a is None:
        raise NotFound(f"appeal {appeal_id}: not found")
    return a


def _check_not_own_denial(session: Session, actor: Actor, a: Appeal) -> None:
    if a.parent_id is None:
        return
    parent = session.get(Appeal, a.parent_id)
    if parent is not None and parent.decided_by is not None and parent.decided_by == actor.user_id:
        raise Forbidden(
            f"appeal {a.id}: a second-level review must be done by another supervisor than "
            f"the one who denied appeal {parent.id}"
        )


def start_review(
    session: Session, actor: Actor, appeal_id: int, now: datetime | None = None
) -> Appeal:
    """A supervisor takes a submitted appeal under review (shown to the person)."""
    require_role(actor, *APPEAL_DECIDE_ROLES)
    a = _locked(session, appeal_id)
    if a.status != PENDING:
        raise Conflict(f"appeal {appeal_id}: is {STATE_LABELS.get(a.status, a.status)}")
    _check_not_own_denial(session, actor, a)
    a.status = UNDER_REVIEW
    a.reviewer_id = actor.user_id
    a.review_started_at = now or utcnow()
    audit.record(session, actor.label, "appeal.review", f"appeal:{a.id}", {"level": a.level})
    return a


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _withdraw_display(session: Session, fine_id: int, now: datetime) -> None:
    session.execute(
        sa.update(DisplayEntry)
        .where(DisplayEntry.fine_id == fine_id, DisplayEntry.withdrawn_at.is_(None))
        .values(withdrawn_at=now)
    )


def _restore_points(session: Session, fine: Fine, a: Appeal, now: datetime) -> int:
    restored = 0
    deductions = session.execute(
        sa.select(LedgerEntry).where(
            LedgerEntry.fine_id == fine.id, LedgerEntry.kind == "deduction"
        )
    ).scalars()
    for d in deductions:
        session.add(
            LedgerEntry(
                person_id=d.person_id,
                fine_id=fine.id,
                kind="restoration",
                points=d.points,
                created=now,
                restores_id=d.id,
                reason=f"appeal {a.id} upheld",
            )
        )
        restored += d.points
    return restored


def new_due_date(a: Appeal, settings: AppealSettings, now: datetime) -> datetime:
    """After a denial: the time that was left to pay when the appeal was filed (the due
    date was paused), and never less than ``new_due_days``."""
    left = (a.due_before - a.submitted) if a.due_before is not None else timedelta(0)
    return now + max(left, timedelta(days=settings.new_due_days))


def decide_appeal(
    session: Session,
    actor: Actor,
    rules: Rules,
    appeal_id: int,
    uphold: bool,
    note: str,
    now: datetime | None = None,
) -> Appeal:
    """Supervisor decision with reasons (required; they go out by SMS).
    Upheld: fine void, points restored, display withdrawn (a paid fine: refund due).
    Denied: a new due date."""
    require_role(actor, *APPEAL_DECIDE_ROLES)
    settings = _settings(rules)
    now = now or utcnow()
    note = note.strip()
    if not note:
        raise ValueError("reasons: required (they are sent to the person by SMS)")
    if _utf16_units(note) > settings.reasons_max_chars:
        raise ValueError(
            f"reasons: at most {settings.reasons_max_chars} characters (they are sent by SMS); "
            f"got {_utf16_units(note)}"
        )
    a = _locked(session, appeal_id)
    if a.status not in OPEN:
        raise Conflict(f"appeal {appeal_id}: already {a.status}")
    _check_not_own_denial(session, actor, a)
    fine = session.execute(
        sa.select(Fine).where(Fine.id == a.fine_id).with_for_update()
    ).scalar_one()
    a.status = UPHELD if uphold else DENIED
    a.decided_by = actor.user_id
    a.decided_at = now
    a.note = note
    restored = 0
    refund_due = False
    decision: NoticeParams
    if uphold:
        # Money paid for it (in full or in part) is owed back: a record a supervisor
        # settles (central/workflow/payments.py).
        refund_due = (
            refund_paid_fine(session, actor, fine, f"appeal {a.id} upheld: the fine is void", now)
            is not None
        )
        fine.status = FineStatus.void
        fine.voided_at = now
        fine.closed_at = now
        restored = _restore_points(session, fine, a, now)
        _withdraw_display(session, fine.id, now)
        decision = AppealUpheld(
            reference=fine.reference, note=note, level=a.level, points_restored=restored
        )
    else:
        a.new_due = new_due_date(a, settings, now)
        fine.due = a.new_due
        decision = AppealDenied(
            reference=fine.reference, note=note, level=a.level, due=a.new_due.date()
        )
    queue_notice(session, decision, person_id=fine.person_id, fine_id=fine.id, created=now)
    audit.record(
        session,
        actor.label,
        "appeal.uphold" if uphold else "appeal.deny",
        f"appeal:{a.id}",
        {
            "fine": fine.reference,
            "level": a.level,
            "points_restored": restored,
            "refund_due": refund_due,
            "new_due": a.new_due.isoformat() if a.new_due else None,
        },
    )
    return a


def open_appeals(session: Session, actor: Actor, limit: int = 50) -> list[Appeal]:
    """Submitted and under-review appeals, oldest first (audited as a read)."""
    require_role(actor, *APPEAL_DECIDE_ROLES)
    rows = list(
        session.execute(
            sa.select(Appeal).where(Appeal.status.in_(OPEN)).order_by(Appeal.submitted).limit(limit)
        ).scalars()
    )
    audit.record(session, actor.label, "appeal.list", "appeals", {"appeals": [a.id for a in rows]})
    return rows


pending_appeals = open_appeals  # the name the API and console used before


@dataclass(frozen=True)
class CaseOutcome:
    """What became of a confirmed event's fine, in words for staff pages."""

    text: str
    voided: bool


def case_outcome(session: Session, event_pk: int) -> CaseOutcome | None:
    """A fine voided on appeal must never read as simply "confirmed". None when the event
    has no fine."""
    fine = session.execute(sa.select(Fine).where(Fine.event_pk == event_pk)).scalar()
    if fine is None:
        return None
    last = session.execute(
        sa.select(Appeal).where(Appeal.fine_id == fine.id).order_by(Appeal.id.desc())
    ).scalar()
    if fine.status == FineStatus.void and last is not None and last.status == UPHELD:
        when = _fmt(last.decided_at) if last.decided_at else "?"
        return CaseOutcome(f"fine {fine.reference} voided on appeal (upheld {when})", True)
    if fine.status == FineStatus.void:
        return CaseOutcome(f"fine {fine.reference} voided", True)
    text = f"fine {fine.reference} {fine.status}"
    if last is not None:
        text += f"; appeal {STATE_LABELS.get(last.status, last.status)}"
    return CaseOutcome(text, False)


def attachment_bytes(
    session: Session, store: EvidenceStore, appeal_id: int, position: int
) -> tuple[AppealAttachment, bytes]:
    """One attachment and its bytes, checked against its sha256 (raises NotFound)."""
    import hashlib

    row = session.execute(
        sa.select(AppealAttachment).where(
            AppealAttachment.appeal_id == appeal_id, AppealAttachment.position == position
        )
    ).scalar()
    if row is None:
        raise NotFound(f"appeal {appeal_id}: no attachment {position}")
    try:
        data = store.get(row.sha256)
    except KeyError:
        raise NotFound(f"appeal {appeal_id}: attachment {position} is no longer kept") from None
    if hashlib.sha256(data).hexdigest() != row.sha256:
        raise Conflict(f"appeal {appeal_id}: attachment {position} does not match its sha256")
    return row, data


def download_headers(row: AppealAttachment, inline: bool) -> dict[str, str]:
    """Headers that keep a browser from doing anything with the bytes but show or save
    them as their checked type: nosniff, no scripts or plugins, a safe file name."""
    disposition = "inline" if inline and row.media_type.startswith("image/") else "attachment"
    ext = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}[row.media_type]
    name = f"appeal-{row.appeal_id}-{row.position}.{ext}"
    return {
        "Content-Disposition": f'{disposition}; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
    }
