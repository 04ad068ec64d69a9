"""Prometheus metrics of evidence integrity, served by the API at ``GET /metrics``.

The alert counter counts what this process saw; the scrub and flag figures are read
from the database at scrape time (any process may have run the scrub).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry()
ALTERED = Counter(
    "jaywatch_central_evidence_altered",
    "Reads of evidence that found bytes not matching their signed sha256 (or missing)",
    ["where"],
    registry=REGISTRY,
)


@dataclass(frozen=True)
class Figures:
    flagged_events: int
    last_scrub_finished: datetime | None
    last_scrub_checked: int | None
    last_scrub_failed: int | None


def figures(engine: sa.Engine) -> Figures:
    """Read on a plain DBAPI connection, like the health probe (central.store.db.ping): a
    Session would begin with SQLite's write lock and wait behind a long write."""
    conn = engine.raw_connection()
    try:
        cur = conn.cursor()
        try:
            cur.execute("SELECT COUNT(*) FROM events WHERE evidence_altered_at IS NOT NULL")
            flagged = int(cur.fetchone()[0])
            cur.execute(
                "SELECT finished, events_checked, events_failed FROM evidence_scrubs "
                "ORDER BY id DESC LIMIT 1"
            )
            row = cur.fetchone()
        finally:
            cur.close()
    finally:
        conn.close()
    if row is None:
        return Figures(flagged, None, None, None)
    finished = row[0] if isinstance(row[0], datetime) else datetime.fromisoformat(str(row[0]))
    return Figures(flagged, finished.replace(tzinfo=UTC), int(row[1]), int(row[2]))


class IntegrityCollector(Collector):
    """Last scrub (when, checked, failed) and events flagged 'evidence altered'."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            f = figures(self.engine)
        except Exception:  # the database is down: /api/health says so; no stale figures
            return
        yield GaugeMetricFamily(
            "jaywatch_central_evidence_flagged_events",
            "Events whose evidence was found altered (cannot be confirmed)",
            value=f.flagged_events,
        )
        if f.last_scrub_finished is not None:
            yield GaugeMetricFamily(
                "jaywatch_central_evidence_scrub_finished_timestamp_seconds",
                "When the last evidence scrub finished (Unix time)",
                value=f.last_scrub_finished.timestamp(),
            )
            yield GaugeMetricFamily(
                "jaywatch_central_evidence_scrub_checked_events",
                "Events the last scrub checked",
                value=f.last_scrub_checked,
            )
            yield GaugeMetricFamily(
                "jaywatch_central_evidence_scrub_failed_events",
                "Events the last scrub found not intact",
                value=f.last_scrub_failed,
            )
