"""Case claims: an operator who opens a case holds it for a lease (renewed while the
page is open), so two operators never review the same event at once.

The claim is a row (``case_claims``), not process memory: every ``central serve`` on the
same database sees it. A lapsed lease simply stops counting (the case is back in the
queue); nothing has to sweep it first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from central import audit
from central.auth.roles import Permission, roles_for
from central.store.models import CaseClaim, Event, utcnow
from central.store.status import EventStatus
from central.workflow.common import Actor, Conflict, NotFound, require_role

LEASE = timedelta(minutes=5)
CLAIM_ROLES = roles_for(Permission.review_decide)  # those who decide
# Statuses a case can be claimed in: waiting for a decision.
# second_review: the second reviewer claims it like a new case (four-eyes)
CLAIMABLE = (EventStatus.pending_review, EventStatus.second_review)


@dataclass(frozen=True)
class ClaimView:
    """Who holds a case and until when (what other people are shown)."""

    event_id: str
    holder: str  # Actor.label
    holder_name: str
    expires: datetime

    def mine(self, actor: Actor) -> bool:
        return self.holder == actor.label


class Claimed(Conflict):
    """Someone else holds the case: the message names them and when the lease ends."""

    def __init__(self, claim: ClaimView) -> None:
        self.claim = claim
        super().__init__(
            f"event {claim.event_id}: being reviewed by {claim.holder_name} "
            f"(claim until {claim.expires:%H:%M:%S} UTC)"
        )


class ClaimLost(Conflict):
    """The decider's own lease lapsed (and it was not renewed): reopen the case first."""


def _view(event_id: str, c: CaseClaim) -> ClaimView:
    return ClaimView(event_id, c.holder, c.holder_name, c.expires)


def _locked_event(session: Session, event_id: str) -> Event:
    e = session.execute(
        sa.select(Event).where(Event.event_id == event_id).with_for_update()
    ).scalar()
    if e is None:
        raise NotFound(f"event {event_id}: not found")
    return e


def current(session: Session, event: Event, now: datetime | None = None) -> ClaimView | None:
    """The live claim on ``event`` (None: nobody holds it, or the lease lapsed)."""
    c = session.get(CaseClaim, event.id)
    if c is None or c.expires <= (now or utcnow()):
        return None
    return _view(event.event_id, c)


def claim(
    session: Session,
    actor: Actor,
    event_id: str,
    now: datetime | None = None,
    lease: timedelta = LEASE,
) -> ClaimView:
    """Take (or renew) the claim on a waiting case; ``Claimed`` if another holds it.

    Audited when taken, not on each renewal (a page renews every minute)."""
    require_role(actor, *CLAIM_ROLES)
    now = now or utcnow()
    e = _locked_event(session, event_id)  # serialises claimers of one case (PostgreSQL)
    if e.status not in CLAIMABLE:
        raise Conflict(f"event {event_id}: is {e.status}, nothing to review")
    c = session.get(CaseClaim, e.id)
    if c is not None and c.expires > now and c.holder != actor.label:
        raise Claimed(_view(event_id, c))
    taken = c is None or c.holder != actor.label or c.expires <= now
    if c is None:
        c = CaseClaim(event_pk=e.id, holder=actor.label, holder_name=actor.name[:64])
        c.claimed_at, c.expires = now, now + lease
        session.add(c)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:  # another process inserted first (SQLite has no row lock)
            c = session.get(CaseClaim, e.id, populate_existing=True)
            if c is None or c.holder != actor.label:
                raise Conflict(f"event {event_id}: claimed by someone else just now") from None
    else:
        if taken:
            c.holder, c.holder_name, c.claimed_at = actor.label, actor.name[:64], now
        c.expires = now + lease
    if taken:
        audit.record(
            session, actor.label, "event.claim", f"event:{event_id}",
            {"until": c.expires.isoformat()},
        )  # fmt: skip
    return _view(event_id, c)


def release(session: Session, actor: Actor, event_id: str) -> bool:
    """Give a case back (the page was left without a decision). Only the holder can."""
    require_role(actor, *CLAIM_ROLES)
    e = _locked_event(session, event_id)
    c = session.get(CaseClaim, e.id)
    if c is None or c.holder != actor.label:
        return False
    session.delete(c)
    audit.record(session, actor.label, "event.release", f"event:{event_id}")
    return True


def settle(session: Session, actor: Actor, event: Event, now: datetime, required: bool) -> None:
    """Called by a decision (``event`` locked): refused while someone else holds the case;
    with ``required`` (the console) the decider must hold a live claim of their own —
    an API decision claims the case for its own transaction instead. The claim ends
    with the decision."""
    c = session.get(CaseClaim, event.id)
    live = c is not None and c.expires > now
    if live and c is not None and c.holder != actor.label:
        raise Claimed(_view(event.event_id, c))
    if required and not live:
        raise ClaimLost(
            f"event {event.event_id}: your claim on this case lapsed; open it again "
            "(someone else may have decided it meanwhile)"
        )
    if c is not None:
        session.delete(c)


def live_claims(
    session: Session, event_pks: list[int], now: datetime | None = None
) -> dict[int, ClaimView]:
    """Live claims of these events (for a queue page), by event primary key."""
    if not event_pks:
        return {}
    now = now or utcnow()
    rows = session.execute(
        sa.select(CaseClaim, Event.event_id)
        .join(Event, Event.id == CaseClaim.event_pk)
        .where(CaseClaim.event_pk.in_(event_pks), CaseClaim.expires > now)
    ).all()
    return {c.event_pk: _view(eid, c) for c, eid in rows}


def purge_lapsed(session: Session, now: datetime | None = None) -> int:
    """Delete lapsed claims (they count for nothing already; this only keeps the table small)."""
    res = session.execute(sa.delete(CaseClaim).where(CaseClaim.expires <= (now or utcnow())))
    return int(res.rowcount or 0)
