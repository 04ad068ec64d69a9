"""The one rate limiter of central: buckets in the database, so every central process
behind a balancer draws on the same budget (a per-process limiter would give N times it).

The algorithm is GCRA (a token bucket kept as one timestamp): a rule of ``limit``
attempts per ``period`` lets ``limit`` attempts through in a burst, then one every
``period / limit``. Each bucket is one row holding ``tat`` (when the bucket is full
again); an attempt is one multi-row ``INSERT … ON CONFLICT DO UPDATE … RETURNING``
(SQLite ≥ 3.35 and PostgreSQL alike) that charges every bucket it names and says which
refused. A refused attempt does not move its bucket, so ``Retry-After`` is honest: an
attempt made then succeeds. A row whose ``tat`` has passed is the same as no row, and is
pruned (at most once per ``prune_every_s`` per process, skipping rows others hold).

Clocks: ``now`` is this process's wall clock; processes on several hosts need NTP (a
skew of s seconds moves a bucket by s seconds, nothing worse).
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from central.store.models import RateLimit

log = logging.getLogger(__name__)
_T = RateLimit.__table__


@dataclass(frozen=True)
class Rule:
    """``limit`` attempts per ``period_s`` for each subject under ``name``."""

    name: str
    limit: int
    period_s: float

    @property
    def interval_ms(self) -> int:
        return max(1, round(self.period_s * 1000 / self.limit))

    @property
    def tolerance_ms(self) -> int:  # a burst of ``limit`` fits
        return self.interval_ms * (self.limit - 1)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0  # whole seconds until an attempt would be allowed (≥ 1 if refused)
    refused_by: tuple[str, ...] = ()  # names of the rules that refused

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)} if not self.allowed else {}


def bucket_key(rule: Rule, subject: str) -> str:
    """What the table stores: a hash, so no account name or address sits in it."""
    h = hashlib.sha256(rule.name.encode())
    h.update(b"\x00")
    h.update(subject.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


class RateLimiter:
    def __init__(
        self,
        engine: sa.Engine,
        prune_every_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.prune_every_s = prune_every_s
        self.clock = clock
        self._next_prune = 0.0
        self._prune_lock = threading.Lock()
        dialect = engine.dialect.name
        if dialect == "postgresql":
            self._insert = postgresql.insert
        elif dialect == "sqlite":
            self._insert = sqlite.insert
        else:  # the two databases central supports; anything else fails at start-up
            raise ValueError(f"rate limiter: unsupported database {dialect!r}")

    def hit(self, charges: Sequence[tuple[Rule, str]]) -> Verdict:
        """Charge one attempt to each (rule, subject) bucket; refused if any bucket is
        empty. Raises the driver's error when the database cannot be written (callers
        then refuse the attempt: a door that cannot count stays shut)."""
        now = round(self.clock() * 1000)
        rows: dict[str, Rule] = {bucket_key(r, s): r for r, s in charges}
        if not rows:
            return Verdict(True)
        values = [
            {
                "key": k,
                "tat_ms": now + r.interval_ms,
                "interval_ms": r.interval_ms,
                "tolerance_ms": r.tolerance_ms,
                "allowed": 1,
            }
            for k, r in sorted(rows.items())  # one lock order for every writer (PostgreSQL)
        ]
        stmt = self._insert(_T).values(values)
        ex = stmt.excluded
        now_l = sa.literal(now, sa.BigInteger)
        start = sa.case((_T.c.tat_ms > now_l, _T.c.tat_ms), else_=now_l)  # max(tat, now)
        fits = start - now_l <= ex.tolerance_ms
        stmt = stmt.on_conflict_do_update(
            index_elements=[_T.c.key],
            set_={
                "tat_ms": sa.case((fits, start + ex.interval_ms), else_=_T.c.tat_ms),
                "interval_ms": ex.interval_ms,
                "tolerance_ms": ex.tolerance_ms,
                "allowed": sa.case((fits, 1), else_=0),
            },
        ).returning(_T.c.key, _T.c.tat_ms, _T.c.tolerance_ms, _T.c.allowed)
        with self.engine.begin() as conn:  # on SQLite a BEGIN IMMEDIATE of microseconds
            result = conn.execute(stmt).all()
        self._maybe_prune(now)
        refused = [row for row in result if not row.allowed]
        if not refused:
            return Verdict(True)
        wait_ms = max(row.tat_ms - now - row.tolerance_ms for row in refused)
        names = tuple(sorted({rows[row.key].name for row in refused}))
        return Verdict(False, max(1, math.ceil(wait_ms / 1000)), names)

    def _maybe_prune(self, now_ms: int) -> None:
        if now_ms / 1000 < self._next_prune or not self._prune_lock.acquire(blocking=False):
            return
        try:
            self._next_prune = now_ms / 1000 + self.prune_every_s
            self.prune(now_ms)
        except sa.exc.DBAPIError as e:  # next time, then; pruning is housekeeping
            log.warning("rate limiter: pruning old buckets failed: %s", e)
        finally:
            self._prune_lock.release()

    def prune(self, now_ms: int | None = None) -> int:
        """Delete buckets that are full again (``tat`` passed); returns how many."""
        now = round(self.clock() * 1000) if now_ms is None else now_ms
        # SKIP LOCKED (PostgreSQL): never wait for, or deadlock with, an attempt's upsert.
        stale = sa.select(_T.c.key).where(_T.c.tat_ms < now).limit(10_000)
        stale = stale.with_for_update(skip_locked=True)
        with self.engine.begin() as conn:
            return conn.execute(sa.delete(_T).where(_T.c.key.in_(stale))).rowcount
