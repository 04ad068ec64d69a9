"""The numbers behind the dashboard: pulled as rows, aggregated with numpy.

Portable on purpose (no date_trunc/strftime): the same code runs on SQLite and
PostgreSQL, and the volumes (days × cameras) are small.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.store.models import Appeal, Event, utcnow
from central.store.status import AppealStatus, EventStatus


@dataclass(frozen=True)
class Series:
    """Per-camera values over shared time bins (``edges`` are bin starts, UTC)."""

    edges: list[datetime]
    by_camera: dict[str, np.ndarray]


def _camera(device_id: str, camera_id: str) -> str:
    return f"{device_id}/{camera_id}"


def _bin(times: list[datetime], start: datetime, step: timedelta, n: int) -> np.ndarray:
    secs = np.array([(t - start).total_seconds() for t in times], dtype=np.float64)
    idx = np.floor(secs / step.total_seconds()).astype(np.int64)
    return np.bincount(idx[(idx >= 0) & (idx < n)], minlength=n)


def per_hour(session: Session, days: int, now: datetime | None = None) -> Series:
    """Confirmed infractions per hour (by time of the offence), per camera."""
    now = now or utcnow()
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(days=days)
    n = days * 24
    rows = session.execute(
        sa.select(Event.device_id, Event.camera_id, Event.occurred).where(
            Event.status == EventStatus.confirmed, Event.occurred >= start
        )
    ).all()
    times: dict[str, list[datetime]] = {}
    for d, c, t in rows:
        times.setdefault(_camera(d, c), []).append(t)
    return Series(
        edges=[start + timedelta(hours=i) for i in range(n)],
        by_camera={cam: _bin(ts, start, timedelta(hours=1), n) for cam, ts in times.items()},
    )


def rejected_share(session: Session, days: int, now: datetime | None = None) -> Series:
    """Per camera and day: share of reviewed matches the operators rejected (NaN: none)."""
    now = now or utcnow()
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    start = end - timedelta(days=days)
    rows = session.execute(
        sa.select(Event.device_id, Event.camera_id, Event.decided_at, Event.status).where(
            Event.status.in_((EventStatus.confirmed, EventStatus.dismissed)),
            Event.decided_at >= start,
            Event.match_score.is_not(None) | (Event.status == EventStatus.confirmed),
        )
    ).all()
    groups: dict[str, tuple[list[datetime], list[datetime]]] = {}
    for d, c, t, status in rows:
        rej, allr = groups.setdefault(_camera(d, c), ([], []))
        allr.append(t)
        if status == EventStatus.dismissed:
            rej.append(t)
    out = {}
    for cam, (rej, allr) in groups.items():
        total = _bin(allr, start, timedelta(days=1), days).astype(np.float64)
        bad = _bin(rej, start, timedelta(days=1), days).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[cam] = np.where(total > 0, bad / total, np.nan)
    return Series(edges=[start + timedelta(days=i) for i in range(days)], by_camera=out)


def match_scores(session: Session, days: int, now: datetime | None = None) -> dict[str, np.ndarray]:
    """Match scores of reviewed and waiting events, by outcome."""
    since = (now or utcnow()) - timedelta(days=days)
    rows = session.execute(
        sa.select(Event.status, Event.match_score).where(
            Event.match_score.is_not(None), Event.received >= since
        )
    ).all()
    out: dict[str, list[float]] = {
        EventStatus.confirmed: [],
        EventStatus.dismissed: [],
        EventStatus.pending_review: [],
    }
    for status, score in rows:
        if status in out:
            out[status].append(float(score))
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def summary(session: Session, days: int = 7, now: datetime | None = None) -> dict[str, int]:
    since = (now or utcnow()) - timedelta(days=days)
    counts = dict(
        session.execute(
            sa.select(Event.status, sa.func.count(Event.id))
            .where(sa.or_(Event.received >= since, Event.status == EventStatus.pending_review))
            .group_by(Event.status)
        ).all()
    )
    appeals = session.execute(
        sa.select(sa.func.count(Appeal.id)).where(Appeal.status == AppealStatus.pending)
    ).scalar_one()
    return {
        "pending": int(counts.get(EventStatus.pending_review, 0)),
        "confirmed": int(counts.get(EventStatus.confirmed, 0)),
        "dismissed": int(counts.get(EventStatus.dismissed, 0)),
        "unidentified": int(counts.get(EventStatus.unidentified, 0)),
        "appeals_pending": int(appeals),
    }
