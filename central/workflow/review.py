"""Operator review: the queue, and the two decisions.

``confirm`` is the ONLY code path that creates a fine, a point deduction, a fine
notice and a display entry (principle 1: a person decides); tests enforce it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central import audit
from central.auth.roles import Permission, roles_for
from central.evidence.integrity import EvidenceAltered, Tx, record_altered, verify_event
from central.fines import format_money
from central.store.evidence import EvidenceStore
from central.store.models import (
    Device,
    DisplayEntry,
    Event,
    Evidence,
    Fine,
    LedgerEntry,
    Notice,
    Person,
    utcnow,
)
from central.store.status import EventStatus, FineStatus
from central.workflow import claims
from central.workflow.common import (
    Actor,
    Conflict,
    NotFound,
    Rules,
    hash_code,
    random_code,
    require_role,
)

REVIEW_ROLES = roles_for(Permission.review_decide)
QUEUE_ROLES = roles_for(Permission.review_queue)
DISMISS_REASONS = (
    "not_a_violation",  # e.g. signal green, person on the pavement
    "wrong_person",  # the face match is wrong
    "poor_evidence",  # images do not show the crossing clearly
    "signal_fault",  # signal reading unreliable
    "exempt",  # emergency, assisting someone, authorised worker
    "other",
)


@dataclass(frozen=True)
class ReviewItem:
    event_id: str
    device_id: str
    camera_id: str
    occurred: datetime
    received: datetime
    offence_code: str
    status: str
    match_person_id: str | None
    match_score: float | None
    evidence: list[tuple[str, str]]  # (role, sha256)
    signal: dict


def _item(session: Session, e: Event) -> ReviewItem:
    ev = session.execute(
        sa.select(Evidence.role, Evidence.sha256)
        .where(Evidence.event_pk == e.id)
        .order_by(Evidence.position)
    ).all()
    return ReviewItem(
        event_id=e.event_id,
        device_id=e.device_id,
        camera_id=e.camera_id,
        occurred=e.occurred,
        received=e.received,
        offence_code=e.offence_code,
        status=e.status,
        match_person_id=e.match_person_id,
        match_score=e.match_score,
        evidence=[(r, h) for r, h in ev],
        signal=e.payload.get("signal", {}),
    )


def review_queue(session: Session, actor: Actor, limit: int = 50) -> list[ReviewItem]:
    """Matched events awaiting a decision, oldest first (audited: shows matches)."""
    require_role(actor, *QUEUE_ROLES)
    events = session.execute(
        sa.select(Event)
        .where(Event.status == EventStatus.pending_review)
        .order_by(Event.occurred, Event.id)
        .limit(limit)
    ).scalars()
    items = [_item(session, e) for e in events]
    audit.record(
        session, actor.label, "review.list", "events", {"events": [i.event_id for i in items]}
    )
    return items


QUARANTINE_ROLES = roles_for(Permission.quarantine_read)


@dataclass(frozen=True)
class QuarantinedItem:
    item: ReviewItem
    reason: str  # occurred_ahead | occurred_behind


def quarantined(session: Session, actor: Actor, limit: int = 100) -> list[QuarantinedItem]:
    """Events stored with an implausible time (ingest.occurred_*), newest received first:
    never in the review queue, never fined; an admin finds out why (a gateway's clock,
    a gateway that was offline for weeks, a hostile device). Audited: they may show matches."""
    require_role(actor, *QUARANTINE_ROLES)
    events = session.execute(
        sa.select(Event)
        .where(Event.status == EventStatus.quarantined)
        .order_by(Event.received.desc(), Event.id.desc())
        .limit(limit)
    ).scalars()
    items = [QuarantinedItem(_item(session, e), e.reason_code or "") for e in events]
    audit.record(
        session,
        actor.label,
        "quarantine.list",
        "events",
        {"events": [q.item.event_id for q in items]},
    )
    return items


def read_event(session: Session, actor: Actor, event_id: str) -> ReviewItem:
    require_role(actor, "operator", "supervisor", "auditor")
    e = _event(session, event_id, lock=False)
    audit.record(session, actor.label, "event.read", f"event:{event_id}")
    return _item(session, e)


def event_item(session: Session, actor: Actor, event_id: str) -> ReviewItem:
    """``read_event`` without its audit entry, for a page that audits its whole view in
    one entry (``evidence_read.open_view``)."""
    require_role(actor, "operator", "supervisor", "auditor")
    return _item(session, _event(session, event_id, lock=False))


def _event(session: Session, event_id: str, lock: bool = True) -> Event:
    q = sa.select(Event).where(Event.event_id == event_id)
    if lock:
        q = q.with_for_update()
    e = session.execute(q).scalar()
    if e is None:
        raise NotFound(f"event {event_id}: not found")
    return e


def _place(session: Session, e: Event) -> str:
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


# Fines look back (escalation window) and forward (points expiry, due date) from the
# offence time; nothing plausible is within this many days of the calendar's ends.
_CALENDAR_MARGIN = timedelta(days=3660)


def _check_plausible_time(e: Event, rules: Rules) -> None:
    """Refuse (409, not 500) to fine an event whose time is absurd: ingest quarantines
    those, but a row stored before that check existed may still be pending. Also keeps
    the date arithmetic below from overflowing."""
    lo = datetime.min.replace(tzinfo=e.occurred.tzinfo) + _CALENDAR_MARGIN
    hi = datetime.max.replace(tzinfo=e.occurred.tzinfo) - _CALENDAR_MARGIN
    reach = timedelta(days=rules.score.points_expire_days)
    if not (lo <= e.occurred <= hi - reach) or e.occurred > e.received + timedelta(days=1):
        raise Conflict(
            f"event {e.event_id}: occurred {e.occurred.isoformat()} is not a plausible time "
            f"(received {e.received.isoformat()}); it cannot be confirmed"
        )


def confirm(
    session: Session,
    actor: Actor,
    rules: Rules,
    event_id: str,
    now: datetime | None = None,
    evidence: EvidenceStore | None = None,
    require_claim: bool = False,
) -> Fine:
    """An operator confirms a matched violation: fine + deduction + notice + display entry.

    Never on altered evidence: an event flagged so is refused, and with ``evidence`` (the
    store; every entry point passes it, through ``confirm_intact``) its bytes are
    re-checked against the signed message first (EvidenceAltered, a Conflict).
    Refused while another operator holds the case (claims.settle); ``require_claim``
    (the console) also needs a live claim of the decider's own."""
    require_role(actor, *REVIEW_ROLES)
    now = now or utcnow()
    e = _event(session, event_id)
    if e.status != EventStatus.pending_review:
        raise Conflict(f"event {event_id}: is {e.status}, only pending_review can be confirmed")
    claims.settle(session, actor, e, now, require_claim)
    _check_plausible_time(e, rules)
    if e.evidence_altered_at is not None:
        raise EvidenceAltered(event_id, list(e.evidence_problems or ["flagged"]))
    if evidence is not None:
        verdict = verify_event(session, evidence, e)
        if not verdict.ok:
            raise EvidenceAltered(event_id, verdict.problems)
    person = session.get(Person, e.match_person_id) if e.match_person_id else None
    if person is None or person.erased_at is not None:
        raise Conflict(f"event {event_id}: no enrolled person matched")
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
    place = _place(session, e)
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
    session.add(
        Notice(
            person_id=person.id,
            fine_id=fine.id,
            kind="fine_issued",
            params={
                "reference": fine.reference,
                "access_code": code,  # the SMS carries it; the DB keeps only its hash on the fine
                "amount": fine_text,
                "points": tariff.points,
                "due": fine.due.date().isoformat(),
                "offence": tariff.description,
                "place": place,
                "occurred": e.occurred.isoformat(),
            },
            created=now,
        )
    )
    e.status = EventStatus.confirmed
    e.decided_by = actor.user_id
    e.decided_at = now
    audit.record(
        session,
        actor.label,
        "event.confirm",
        f"event:{event_id}",
        {
            "fine": fine.reference,
            "person": person.id,
            "amount_cents": tariff.amount_cents,
            "points": tariff.points,
            "prior_in_window": prior,
        },
    )
    return fine


def confirm_intact(
    tx: Tx,
    evidence: EvidenceStore,
    actor: Actor,
    rules: Rules,
    event_id: str,
    require_claim: bool = False,
) -> Fine:
    """``confirm`` in a transaction of ``tx``, with the evidence re-checked; altered
    evidence is refused and recorded (flag, audit, alert) in a transaction of its own."""
    try:
        with tx() as s:
            return confirm(
                s, actor, rules, event_id, evidence=evidence, require_claim=require_claim
            )
    except EvidenceAltered as e:
        record_altered(tx, event_id, e.problems, actor.label, "confirm")
        raise


def dismiss(
    session: Session,
    actor: Actor,
    event_id: str,
    reason: str,
    now: datetime | None = None,
    require_claim: bool = False,
) -> Event:
    """Dismiss a case with a reason code; the claim rules are those of ``confirm``."""
    require_role(actor, *REVIEW_ROLES)
    if reason not in DISMISS_REASONS:
        raise ValueError(f"reason: expected one of {list(DISMISS_REASONS)}, got {reason!r}")
    e = _event(session, event_id)
    if e.status not in (EventStatus.pending_review, EventStatus.unidentified):
        raise Conflict(f"event {event_id}: is {e.status}, cannot be dismissed")
    now = now or utcnow()
    if e.status == EventStatus.pending_review:
        claims.settle(session, actor, e, now, require_claim)
    e.status = EventStatus.dismissed
    e.reason_code = reason
    e.decided_by = actor.user_id
    e.decided_at = now
    audit.record(session, actor.label, "event.dismiss", f"event:{event_id}", {"reason": reason})
    return e
