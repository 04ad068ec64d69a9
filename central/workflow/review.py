"""Operator review: the queue, the two decisions, four-eyes and the undo window.

A fine, a point deduction, a fine notice and a display entry are made only by
``sanctions.issue_fine``, called from here only: by ``confirm`` (undo window 0) or by
``issue_due`` for a confirmation whose undo window has passed (principle 1: a person
decides); tests enforce it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central import audit
from central.auth.roles import Permission, roles_for
from central.config import ReviewSettings
from central.evidence.integrity import EvidenceAltered, Tx, record_altered, verify_event
from central.store.evidence import EvidenceStore
from central.store.models import Event, Evidence, Fine, Person, ReviewConfirmation, utcnow
from central.store.status import ConfirmationStage, EventStatus
from central.workflow import claims, sanctions
from central.workflow.common import (
    SYSTEM,
    Actor,
    Conflict,
    Forbidden,
    NotFound,
    Rules,
    WorkflowError,
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
    # Four-eyes: who gave the first confirmation (status second_review), and when the
    # final one's undo window ends and by whom (status confirming).
    first_confirmed_by: str | None = None
    undo_until: datetime | None = None
    final_confirmed_by: str | None = None


def _item(session: Session, e: Event) -> ReviewItem:
    ev = session.execute(
        sa.select(Evidence.role, Evidence.sha256)
        .where(Evidence.event_pk == e.id)
        .order_by(Evidence.position)
    ).all()
    first = (
        _live_confirmation(session, e, ConfirmationStage.first)
        if e.status == EventStatus.second_review
        else None
    )
    final = (
        _live_confirmation(session, e, ConfirmationStage.final)
        if e.status == EventStatus.confirming
        else None
    )
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
        first_confirmed_by=first.actor if first is not None else None,
        undo_until=final.effective_at if final is not None else None,
        final_confirmed_by=final.actor if final is not None else None,
    )


def review_queue(
    session: Session, actor: Actor, limit: int = 50, actionable: bool = False
) -> list[ReviewItem]:
    """Matched events awaiting a decision (a first one, or a second reviewer's: status
    ``second_review``), oldest first (audited: shows matches). ``actionable``: only those
    ``actor`` may decide (not the ones awaiting a second reviewer after their own first
    confirmation)."""
    require_role(actor, *QUEUE_ROLES)
    q = sa.select(Event).where(
        Event.status.in_((EventStatus.pending_review, EventStatus.second_review))
    )
    if actionable:
        q = q.where(~own_first_confirmation(actor))
    events = session.execute(q.order_by(Event.occurred, Event.id).limit(limit)).scalars()
    items = [_item(session, e) for e in events]
    audit.record(
        session, actor.label, "review.list", "events", {"events": [i.event_id for i in items]}
    )
    return items


def own_first_confirmation(actor: Actor) -> sa.ColumnElement[bool]:
    """SQL: the event has a live first confirmation by ``actor``."""
    who = (
        ReviewConfirmation.user_id == actor.user_id
        if actor.user_id is not None
        else ReviewConfirmation.actor == actor.label
    )
    return (
        sa.select(ReviewConfirmation.id)
        .where(
            ReviewConfirmation.event_pk == Event.id,
            ReviewConfirmation.stage == ConfirmationStage.first,
            ReviewConfirmation.undone_at.is_(None),
            who,
        )
        .exists()
    )


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


@dataclass(frozen=True)
class Decision:
    """What a confirmation did: ``second_review`` (a second, different operator must
    confirm), ``confirming`` (the undo window runs until ``undo_until``; then
    ``issue_due`` issues the fine) or ``confirmed`` (``fine`` issued at once)."""

    event_id: str
    status: EventStatus
    fine: Fine | None = None
    undo_until: datetime | None = None
    first_confirmed_by: str | None = None


def needs_second_review(e: Event, settings: ReviewSettings) -> bool:
    """Whether ``review.second_reviewer`` asks a second operator for this event. A weak
    match scores less than ``weak_margin`` above the threshold the edge matched with; an
    event that does not say its threshold counts as weak (no evidence it is strong)."""
    if settings.second_reviewer == "never":
        return False
    if settings.second_reviewer == "all":
        return True
    match = e.payload.get("match") if isinstance(e.payload, dict) else None
    threshold = match.get("threshold") if isinstance(match, dict) else None
    if e.match_score is None or not isinstance(threshold, int | float):
        return True
    return e.match_score < float(threshold) + settings.weak_margin


def _live_confirmation(
    session: Session, e: Event, stage: ConfirmationStage
) -> ReviewConfirmation | None:
    """The event's current (not undone) confirmation of ``stage``, if any."""
    return session.execute(
        sa.select(ReviewConfirmation)
        .where(
            ReviewConfirmation.event_pk == e.id,
            ReviewConfirmation.stage == stage,
            ReviewConfirmation.undone_at.is_(None),
        )
        .order_by(ReviewConfirmation.id.desc())
        .limit(1)
    ).scalar()


def _same_operator(c: ReviewConfirmation, actor: Actor) -> bool:
    if c.user_id is not None and actor.user_id is not None:
        return c.user_id == actor.user_id
    return c.actor == actor.label


def first_confirmation(session: Session, event_id: str) -> ReviewConfirmation | None:
    """Who confirmed an event awaiting its second review (for the queue and the page)."""
    e = _event(session, event_id, lock=False)
    return _live_confirmation(session, e, ConfirmationStage.first)


def final_confirmation(session: Session, event_id: str) -> ReviewConfirmation | None:
    """The confirmation whose undo window runs (status ``confirming``), if any."""
    e = _event(session, event_id, lock=False)
    return (
        _live_confirmation(session, e, ConfirmationStage.final)
        if e.status == EventStatus.confirming
        else None
    )


def confirm(
    session: Session,
    actor: Actor,
    rules: Rules,
    event_id: str,
    now: datetime | None = None,
    evidence: EvidenceStore | None = None,
    require_claim: bool = False,
) -> Decision:
    """An operator confirms a matched violation (the one workflow step the API and the
    console both call).

    With ``review.second_reviewer`` asking for it (weak match, or ``all``), the first
    confirmation only moves the event to ``second_review``; a second, *different*
    operator's confirmation is the final one. The final confirmation starts the undo
    window (``review.undo_window_s``): the fine, points, notice and display entry are
    made by ``issue_due`` once it has passed (``sanctions.issue_fine``), or at once when
    the window is 0.

    Never on altered evidence: an event flagged so is refused, and with ``evidence`` (the
    store; every entry point passes it, through ``confirm_intact``) its bytes are
    re-checked against the signed message first (EvidenceAltered, a Conflict).
    Refused while another operator holds the case (claims.settle); ``require_claim``
    (the console) also needs a live claim of the decider's own. Each confirmation ends
    the claim, so the second reviewer can claim the case."""
    require_role(actor, *REVIEW_ROLES)
    now = now or utcnow()
    e = _event(session, event_id)
    if e.status not in (EventStatus.pending_review, EventStatus.second_review):
        raise Conflict(
            f"event {event_id}: is {e.status}, only pending_review or second_review "
            "can be confirmed"
        )
    first = (
        _live_confirmation(session, e, ConfirmationStage.first)
        if e.status == EventStatus.second_review
        else None
    )
    if first is not None and _same_operator(first, actor):
        raise Conflict(
            f"event {event_id}: {actor.label} gave the first confirmation; a second, "
            "different operator must confirm it"
        )
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
    if first is None and needs_second_review(e, rules.review):
        session.add(
            ReviewConfirmation(
                event_pk=e.id,
                stage=ConfirmationStage.first,
                user_id=actor.user_id,
                actor=actor.label,
                at=now,
            )
        )
        e.status = EventStatus.second_review
        audit.record(
            session,
            actor.label,
            "event.confirm_first",
            f"event:{event_id}",
            {"score": e.match_score, "policy": rules.review.second_reviewer},
        )
        return Decision(event_id, EventStatus.second_review, first_confirmed_by=actor.label)
    confirmed_by = [first.actor, actor.label] if first is not None else [actor.label]
    window = timedelta(seconds=rules.review.undo_window_s)
    final = ReviewConfirmation(
        event_pk=e.id,
        stage=ConfirmationStage.final,
        user_id=actor.user_id,
        actor=actor.label,
        at=now,
        effective_at=now + window,
    )
    session.add(final)
    e.decided_by = actor.user_id
    e.decided_at = now
    if not window:
        fine = sanctions.issue_fine(session, rules, e, actor.label, confirmed_by, now)
        return Decision(event_id, EventStatus.confirmed, fine=fine)
    e.status = EventStatus.confirming
    audit.record(
        session,
        actor.label,
        "event.confirm_final",
        f"event:{event_id}",
        {"confirmed_by": confirmed_by, "undo_until": final.effective_at.isoformat()},
    )
    return Decision(
        event_id,
        EventStatus.confirming,
        undo_until=final.effective_at,
        first_confirmed_by=first.actor if first is not None else None,
    )


def confirm_intact(
    tx: Tx,
    evidence: EvidenceStore,
    actor: Actor,
    rules: Rules,
    event_id: str,
    require_claim: bool = False,
) -> Decision:
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


def undo(session: Session, actor: Actor, event_id: str, now: datetime | None = None) -> Event:
    """The operator takes back their own confirmation: the final one while its undo
    window runs (nothing was issued: no fine, SMS or display entry exists yet), or a first
    one while it awaits the second reviewer. The event goes back one step."""
    require_role(actor, *REVIEW_ROLES)
    now = now or utcnow()
    e = _event(session, event_id)
    if e.status == EventStatus.confirming:
        c = _live_confirmation(session, e, ConfirmationStage.final)
        if c is not None and c.effective_at is not None and now >= c.effective_at:
            raise Conflict(
                f"event {event_id}: the undo window ended at {c.effective_at.isoformat()}"
            )
    elif e.status == EventStatus.second_review:
        c = _live_confirmation(session, e, ConfirmationStage.first)
    else:
        raise Conflict(f"event {event_id}: is {e.status}, there is no confirmation to undo")
    if c is None:
        raise Conflict(f"event {event_id}: there is no confirmation to undo")
    if not _same_operator(c, actor):
        raise Forbidden(f"{actor.label} may not undo {c.actor}'s confirmation")
    c.undone_at = now
    if (
        e.status == EventStatus.confirming
        and _live_confirmation(session, e, ConfirmationStage.first) is not None
    ):
        e.status = EventStatus.second_review
    else:
        e.status = EventStatus.pending_review
    e.decided_by = None
    e.decided_at = None
    audit.record(
        session, actor.label, "event.confirm_undo", f"event:{event_id}", {"stage": c.stage}
    )
    return e


def due_events(session: Session, now: datetime, limit: int = 100) -> list[int]:
    """Events whose final confirmation's undo window has passed, oldest first."""
    return list(
        session.execute(
            sa.select(Event.id)
            .join(ReviewConfirmation, ReviewConfirmation.event_pk == Event.id)
            .where(
                Event.status == EventStatus.confirming,
                ReviewConfirmation.stage == ConfirmationStage.final,
                ReviewConfirmation.undone_at.is_(None),
                ReviewConfirmation.effective_at <= now,
            )
            .order_by(ReviewConfirmation.effective_at, Event.id)
            .limit(limit)
        ).scalars()
    )


def issue_due(
    tx: Tx,
    rules: Rules,
    evidence: EvidenceStore | None = None,
    now: datetime | None = None,
    limit: int = 100,
) -> list[Fine]:
    """Issue the fines whose undo window has passed, each in its own transaction.

    Exactly once, with any number of ``central serve`` processes on one database: each
    event is claimed by a conditional update (``confirming`` → ``confirmed``) that only
    one transaction can win (PostgreSQL re-checks the row after a concurrent writer
    commits; SQLite serialises writers with BEGIN IMMEDIATE), and the fine is made in
    the same transaction, so a crash leaves the event ``confirming`` with no fine and the
    next pass (after a restart) issues it. A sanction that can no longer be issued (the
    evidence is found altered, the person was erased) sends the event back to review."""
    now = now or utcnow()
    with tx() as s:
        pks = due_events(s, now, limit)
    issued: list[Fine] = []
    for pk in pks:
        try:
            with tx() as s:
                won = s.execute(
                    sa.update(Event)
                    .where(Event.id == pk, Event.status == EventStatus.confirming)
                    .values(status=EventStatus.confirmed)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if won != 1:
                    continue  # another process issued it, or it was undone meanwhile
                e = s.get(Event, pk, populate_existing=True)
                assert e is not None
                if e.evidence_altered_at is not None:
                    raise EvidenceAltered(e.event_id, list(e.evidence_problems or ["flagged"]))
                if evidence is not None:
                    verdict = verify_event(s, evidence, e)
                    if not verdict.ok:
                        raise EvidenceAltered(e.event_id, verdict.problems)
                first = _live_confirmation(s, e, ConfirmationStage.first)
                final = _live_confirmation(s, e, ConfirmationStage.final)
                by = [c.actor for c in (first, final) if c is not None]
                issued.append(sanctions.issue_fine(s, rules, e, SYSTEM.label, by, now))
        except WorkflowError as x:
            _back_to_review(tx, pk, str(x), now)
            if isinstance(x, EvidenceAltered):
                with tx() as s:
                    eid = s.get(Event, pk).event_id  # type: ignore[union-attr]
                record_altered(tx, eid, x.problems, SYSTEM.label, "issue")
    return issued


def _back_to_review(tx: Tx, pk: int, why: str, now: datetime) -> None:
    """The confirmation could not be turned into a sanction: the event returns to the
    queue (a person decides again), its confirmations withdrawn, and the audit says why."""
    with tx() as s:
        e = s.get(Event, pk, with_for_update=True)
        if e is None or e.status != EventStatus.confirming:
            return
        s.execute(
            sa.update(ReviewConfirmation)
            .where(ReviewConfirmation.event_pk == pk, ReviewConfirmation.undone_at.is_(None))
            .values(undone_at=now)
        )
        e.status = EventStatus.pending_review
        e.decided_by = None
        e.decided_at = None
        audit.record(s, SYSTEM.label, "event.issue_failed", f"event:{e.event_id}", {"reason": why})


def dismiss(
    session: Session,
    actor: Actor,
    event_id: str,
    reason: str,
    now: datetime | None = None,
    require_claim: bool = False,
) -> Event:
    """Dismiss a case with a reason code; the claim rules are those of ``confirm``. In
    ``second_review`` this is the second reviewer disagreeing (not the first one)."""
    require_role(actor, *REVIEW_ROLES)
    if reason not in DISMISS_REASONS:
        raise ValueError(f"reason: expected one of {list(DISMISS_REASONS)}, got {reason!r}")
    e = _event(session, event_id)
    if e.status not in (
        EventStatus.pending_review,
        EventStatus.second_review,
        EventStatus.unidentified,
    ):
        raise Conflict(f"event {event_id}: is {e.status}, cannot be dismissed")
    now = now or utcnow()
    details: dict[str, object] = {"reason": reason}
    if e.status == EventStatus.second_review:  # the second reviewer disagrees: a dismissal
        first = _live_confirmation(session, e, ConfirmationStage.first)
        if first is not None and _same_operator(first, actor):
            raise Conflict(
                f"event {event_id}: {actor.label} confirmed it; undo that confirmation "
                "instead, or let a second operator decide"
            )
        details["second_review"] = True
        details["first_confirmed_by"] = first.actor if first is not None else None
    if e.status in (EventStatus.pending_review, EventStatus.second_review):
        claims.settle(session, actor, e, now, require_claim)
    e.status = EventStatus.dismissed
    e.reason_code = reason
    e.decided_by = actor.user_id
    e.decided_at = now
    audit.record(session, actor.label, "event.dismiss", f"event:{event_id}", details)
    return e
