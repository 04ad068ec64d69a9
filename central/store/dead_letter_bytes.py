"""The payload bytes all dead letters keep, without summing every dead letter.

The database keeps it: triggers on ``dead_letters`` (migration dead_letters_0002) insert
a signed delta into ``dead_letter_bytes`` for every insert, change of ``raw`` and delete,
in the changing transaction. So the total read here is exact and of the reader's own
snapshot, whatever code or SQL changed the rows (ingest, requeue, discard, retention),
and ``ingest.dead_letters_max_total_bytes`` costs a sum over a few rows per insert
instead of ``SUM(length(raw))`` over all of them (bench/bench_dead_letter_cap.py).

Deltas are only inserted (no counter row is updated, so concurrent ingest workers never
wait on one row); ``compact`` folds them into one row, which correctness never needs.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.store.models import DeadLetterBytes

T = DeadLetterBytes
COMPACT_AT = 2000  # fold once a write sees more delta rows than this


def total(session: Session) -> int:
    return int(session.execute(sa.select(sa.func.coalesce(sa.func.sum(T.n), 0))).scalar_one())


def rows(session: Session) -> int:
    return int(session.execute(sa.select(sa.func.count()).select_from(T)).scalar_one())


def compact(session: Session) -> int:
    """Fold the delta rows seen into one, in the caller's transaction; returns the rows
    removed. Safe beside concurrent writers: only rows this statement deleted are summed
    (PostgreSQL: DELETE ... RETURNING feeding the INSERT; SQLite has a single writer)."""
    top = session.execute(sa.select(sa.func.max(T.id))).scalar()
    if top is None:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        gone = session.execute(
            sa.text(
                "WITH gone AS (DELETE FROM dead_letter_bytes WHERE id <= :top RETURNING n), "
                "ins AS (INSERT INTO dead_letter_bytes (n) SELECT SUM(n) FROM gone "
                "HAVING COUNT(*) > 0) SELECT COUNT(*) FROM gone"
            ),
            {"top": top},
        ).scalar_one()
        return int(gone)
    n = session.execute(sa.select(sa.func.sum(T.n)).where(T.id <= top)).scalar()
    gone = session.execute(sa.delete(T).where(T.id <= top)).rowcount
    session.add(T(n=int(n or 0)))
    session.flush()
    return int(gone or 0)


def total_and_tidy(session: Session) -> int:
    """``total``, folding the deltas first when they have grown long (write transactions).
    One statement when they have not (the row count and the sum together)."""
    n, t = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(T.n), 0)).select_from(T)
    ).one()
    if n > COMPACT_AT:
        compact(session)
        return total(session)
    return int(t)


def rebuild(session: Session) -> tuple[int, int]:
    """Replace the deltas by the total of the rows themselves (after a restore that loaded
    ``dead_letters`` with triggers off, or SQL that dropped them); (before, after). On
    PostgreSQL the table is locked against writers meanwhile (SQLite: one writer)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("LOCK TABLE dead_letters IN SHARE MODE"))
    before = total(session)
    session.execute(sa.delete(T))
    session.execute(
        sa.text(
            "INSERT INTO dead_letter_bytes (n) "
            "SELECT COALESCE(SUM(length(raw)), 0) FROM dead_letters"
        )
    )
    return before, total(session)
