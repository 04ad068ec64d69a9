"""Exact event counts per status without ``COUNT(*)`` over the events (issue 17).

The database keeps them: a trigger on ``events`` (migration queue_0002) inserts a signed
delta into ``event_status_counts`` for every insert, status change and delete, in the
changing transaction. So a count read here is exact and of the reader's own snapshot,
whatever code or SQL changed the events, and costs a sum over a few rows instead of a
scan of every waiting event (bench/bench_queue.py: README, Benchmarks).

The trigger only inserts (no counter row is ever updated, so concurrent ingest workers
and reviewers never wait on each other here); ``compact`` folds the rows into one per
status. Correctness never depends on it: it only keeps the sum short.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.store.models import EventStatusCount

T = EventStatusCount
# Fold once a read sees more delta rows than this (each costs ~a microsecond to sum).
COMPACT_AT = 2000


def counts(session: Session, statuses: Iterable[str] | None = None) -> dict[str, int]:
    """Events per status (every status with a row; missing ones are 0)."""
    q = sa.select(T.status, sa.func.sum(T.n)).group_by(T.status)
    if statuses is not None:
        q = q.where(T.status.in_(list(statuses)))
    return {s: int(n) for s, n in session.execute(q).all() if n}


def count(session: Session, statuses: Iterable[str]) -> int:
    """Events whose status is one of ``statuses``."""
    return sum(counts(session, statuses).values())


def rows(session: Session) -> int:
    return int(session.execute(sa.select(sa.func.count()).select_from(T)).scalar_one())


def compact(session: Session) -> int:
    """Fold every delta row seen into one row per status, in the caller's transaction;
    returns the rows removed. Safe beside concurrent writers and compactions: only rows
    this statement deleted are summed (PostgreSQL: one DELETE ... RETURNING feeding the
    INSERT; SQLite has a single writer)."""
    top = session.execute(sa.select(sa.func.max(T.id))).scalar()
    if top is None:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        gone = session.execute(
            sa.text(
                "WITH gone AS (DELETE FROM event_status_counts WHERE id <= :top "
                "RETURNING status, n), ins AS (INSERT INTO event_status_counts (status, n) "
                "SELECT status, SUM(n) FROM gone GROUP BY status HAVING SUM(n) <> 0) "
                "SELECT COUNT(*) FROM gone"
            ),
            {"top": top},
        ).scalar_one()
        return int(gone)
    sums = session.execute(
        sa.select(T.status, sa.func.sum(T.n)).where(T.id <= top).group_by(T.status)
    ).all()
    gone = session.execute(sa.delete(T).where(T.id <= top)).rowcount
    for status, n in sums:
        if n:
            session.add(T(status=status, n=int(n)))
    session.flush()
    return int(gone or 0)


def count_and_tidy(session: Session, statuses: Iterable[str]) -> int:
    """``count``, and ``compact`` first when the deltas have grown long (for callers in
    a write transaction, e.g. a queue page that audits itself)."""
    if rows(session) > COMPACT_AT:
        compact(session)
    return count(session, statuses)


def rebuild(session: Session) -> tuple[dict[str, int], dict[str, int]]:
    """Replace the deltas by ``COUNT(*)`` per status of the events themselves (after a
    restore with triggers off); (before, after). PostgreSQL: ``events`` locked against
    writers meanwhile (SQLite: one writer)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("LOCK TABLE events IN SHARE MODE"))
    before = counts(session)
    session.execute(sa.delete(T))
    session.execute(
        sa.text(
            "INSERT INTO event_status_counts (status, n) "
            "SELECT status, COUNT(*) FROM events GROUP BY status"
        )
    )
    return before, counts(session)
