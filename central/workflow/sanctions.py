"""Sanctions: where a fine is made (``issue_fine``), and after it exists: finding it and
the public display feed (payments: central/workflow/payments.py; appeals:
central/workflow/appeals.py).

``issue_fine`` is the ONLY code that creates a fine, a point deduction, a fine notice
and a display entry; it runs only for an event operators confirmed (central.workflow.
review: ``confirm`` at once, or ``issue_due`` when the undo window has passed).
Paying or winning an appeal withdraws the display entry in the same transaction
(principle 4: the record is cleared at once, everywhere).
"""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central import audit
from central.fines import format_money
from central.notices.kinds import FineIssued, queue_notice
from central.store.models import (
    Device,
    DisplayEntry,
    Event,
    Fine,
    LedgerEntry,
    Person,
    utcnow,
)
from central.store.status import EventStatus, FineStatus
from central.workflow.common import (
    Conflict,
    NotFound,
    Rules,
    hash_code,
    random_code,
)
from jaywatch.wire import DisplayItem


def event_place(session: Session, e: Event) -> str:
    """The camera's place (as registered), else the gateway's, else device/camera."""
    dev = session.get(Device, e.device_id)
    if dev is not None:
        for cam in dev.cameras or []:
            if isinstance(cam, dict) and cam.get("camera_id") == e.camera_id and cam.get("place"):
                return str(cam["place"])
        if dev.place:
            return dev.place
    return f"{e.device_id}/{e.camera_id}"


def prior_fines(session: Session, person_id: str, code: str, before: datetime, days: int) -> int:
    """Non-void fines for the same offence in the window before ``before`` (escalation)."""
    return int(
        session.execute(
            sa.select(sa.func.count(Fine.id)).where(
                Fine.person_id == person_id,
                Fine.offence_code == code,
                Fine.status != FineStatus.void,
                Fine.occurred < before,
                Fine.occurred >= before - timedelta(days=days),
            )
        ).scalar_one()
    )


def issue_fine(
    session: Session,
    rules: Rules,
    e: Event,
    issued_by: str,
    confirmed_by: list[str],
    now: datetime | None = None,
) -> Fine:
    """The sanction for a confirmed event: fine + point deduction + fine notice (SMS
    outbox) + display entry, all in the caller's transaction, and the event ``confirmed``.

    Callers (review.confirm / review.issue_due) have locked the event and checked that
    operators confirmed it; ``fines.event_pk`` is unique besides, so a second fine for
    one event can never be committed. ``issued_by`` is the audit actor (the operator, or
    the system when the undo window ended), ``confirmed_by`` the confirming operators."""
    now = now or utcnow()
    person = session.get(Person, e.match_person_id) if e.match_person_id else None
    if person is None or person.erased_at is not None:
        raise Conflict(f"event {e.event_id}: no enrolled person matched")
    window = rules.schedule.window_days(e.offence_code)
    prior = prior_fines(session, person.id, e.offence_code, e.occurred, window) if window else 0
    tariff = rules.schedule.tariff(e.offence_code, prior)
    code = random_code(10)
    currency = rules.schedule.currency
    fine = Fine(
        reference=f"JW-{random_code(4)}-{random_code(4)}",
        access_code_hash=hash_code(code),
        event_pk=e.id,
        person_id=person.id,
        offence_code=e.offence_code,
        amount_cents=tariff.amount_cents,
        currency=currency,
        points=tariff.points,
        occurred=e.occurred,
        issued=now,
        due=now + timedelta(days=tariff.due_days),
        status=FineStatus.issued,
    )
    session.add(fine)
    session.flush()
    if tariff.points:
        session.add(
            LedgerEntry(
                person_id=person.id,
                fine_id=fine.id,
                kind="deduction",
                points=tariff.points,
                created=now,
                expires_at=e.occurred + timedelta(days=rules.score.points_expire_days),
                reason=f"fine {fine.reference}",
            )
        )
    place = event_place(session, e)
    fine_text = format_money(tariff.amount_cents, currency)
    session.add(
        DisplayEntry(
            item_id=str(uuid.uuid4()),
            fine_id=fine.id,
            place=place,
            occurred=e.occurred,
            offence=tariff.description,
            fine_text=fine_text,
            created=now,
        )
    )
    queue_notice(
        session,
        FineIssued(
            reference=fine.reference,
            access_code=code,  # the SMS carries it; the DB keeps only its hash on the fine
            amount=fine_text,
            points=tariff.points,
            due=fine.due.date(),
            offence=tariff.description,
            place=place,
            occurred=e.occurred,
        ),
        person_id=person.id,
        fine_id=fine.id,
        created=now,
    )
    e.status = EventStatus.confirmed
    audit.record(
        session,
        issued_by,
        "event.confirm",
        f"event:{e.event_id}",
        {
            "fine": fine.reference,
            "person": person.id,
            "amount_cents": tariff.amount_cents,
            "points": tariff.points,
            "prior_in_window": prior,
            "confirmed_by": confirmed_by,
        },
    )
    return fine


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
