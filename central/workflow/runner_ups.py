"""The match's runner-ups as staff see them (issue 17): the console's event page and the
API's ``GET /api/events/{id}`` show the same candidates with the same figures — person
id, score, gap to the match, above/below the gateway's threshold — computed here once.

Who sees them is who sees the event (``evidence_read.READ_ROLES``: operator, supervisor,
auditor); their photos are the console's business (``photos.VIEW_ROLES``). The rows come
from ``photos.alternatives_for_event``, so an erased person or one never enrolled here is
never listed, and an event without a match has none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central import audit
from central.store.models import Event
from central.workflow import review
from central.workflow.common import Actor
from central.workflow.evidence_read import VIEW_ACTION
from central.workflow.photos import Alternative, alternatives_for_event


@dataclass(frozen=True)
class Candidate:
    """One runner-up, ``n`` its place in the list (0: the best after the match), the same
    ``n`` the read's audit entry lists it under."""

    n: int
    person_id: str
    score: float
    gap: float | None  # the match's score minus this one's (None: no match score stored)
    above_threshold: bool | None  # None: the gateway sent no threshold with its match


def threshold_of(payload: dict[str, Any]) -> float | None:
    """The match threshold the gateway signed with the match, if it sent a usable one."""
    value = (payload.get("match") or {}).get("threshold")
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) else None


def rank(
    alternatives: list[Alternative], best: float | None, threshold: float | None
) -> list[Candidate]:
    """The stored runner-ups with their gap to the match and their side of the threshold
    (as the console's face comparison words them)."""
    return [
        Candidate(
            n=i,
            person_id=a.person_id,
            score=a.score,
            gap=best - a.score if best is not None else None,
            above_threshold=a.score >= threshold if threshold is not None else None,
        )
        for i, a in enumerate(alternatives)
    ]


def candidates(session: Session, event_id: str) -> list[Candidate]:
    """The event's runner-ups, ranked ([] without a match or when none was sent)."""
    row = session.execute(
        sa.select(Event.match_score, Event.payload).where(Event.event_id == event_id)
    ).first()
    if row is None:
        return []
    return rank(alternatives_for_event(session, event_id), row[0], threshold_of(row[1] or {}))


def read_event(
    session: Session, actor: Actor, event_id: str
) -> tuple[review.ReviewItem, list[Candidate]]:
    """The API's read of one event: the item and its runner-ups, audited in ONE
    ``event.read`` entry that lists the candidates it returns (``{"n", "person_id"}``, as
    the console's page view lists them; no photo is returned, so no ``sha256``).

    Raises:
        Forbidden: not a role that sees events. NotFound: unknown event.
    """
    item = review.event_item(session, actor, event_id)  # checks the role first
    found = candidates(session, event_id)
    details = (
        {"alternatives": [{"n": c.n, "person_id": c.person_id} for c in found]} if found else None
    )
    audit.record(session, actor.label, VIEW_ACTION, f"event:{event_id}", details)
    return item, found
