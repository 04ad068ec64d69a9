"""Penalty-point score: start − active deductions, never below the floor.

A deduction is active until it expires or a restoration entry cancels it; the ledger
itself is never edited, so the history stays readable.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from central.store.models import LedgerEntry, utcnow
from central.workflow.common import Rules


def active_deductions(session: Session, person_id: str, now: datetime) -> int:
    restoration = aliased(LedgerEntry)
    restored = sa.exists().where(restoration.restores_id == LedgerEntry.id)
    total = session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.points), 0)).where(
            LedgerEntry.person_id == person_id,
            LedgerEntry.kind == "deduction",
            LedgerEntry.expires_at > now,
            ~restored,
        )
    ).scalar_one()
    return int(total)


def current_score(
    session: Session, rules: Rules, person_id: str, now: datetime | None = None
) -> int:
    s = rules.score
    return max(s.floor, s.start - active_deductions(session, person_id, now or utcnow()))
