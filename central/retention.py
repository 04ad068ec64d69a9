"""Retention: delete each kind of record once its configured time is up (principle 7).

Evidence of a fine under a pending appeal is never purged. Blobs are deleted only after
the rows that referenced them are committed away, and only if nothing references them
any more (the store is content-addressed: two events may share an image).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from central import audit
from central.config import RetentionSettings
from central.store.evidence import EvidenceStore
from central.store.models import ApiSession, Appeal, DeadLetter, Event, Evidence, Fine, utcnow
from central.workflow.common import SYSTEM, Actor


@dataclass
class PurgeResult:
    counts: dict[str, int] = field(default_factory=dict)
    blob_candidates: set[str] = field(default_factory=set)


def _cutoff(days: int | None, now: datetime) -> datetime | None:
    return None if days is None else now - timedelta(days=days)


def _drop_evidence(session: Session, event_pks: sa.Select, result: PurgeResult, kind: str) -> None:
    rows = session.execute(
        sa.select(Evidence.id, Evidence.sha256).where(Evidence.event_pk.in_(event_pks))
    ).all()
    if rows:
        session.execute(sa.delete(Evidence).where(Evidence.id.in_([r[0] for r in rows])))
    result.blob_candidates.update(r[1] for r in rows)
    result.counts[kind] = len(rows)


def purge(
    session: Session,
    settings: RetentionSettings,
    now: datetime | None = None,
    actor: Actor = SYSTEM,
) -> PurgeResult:
    """Delete expired records inside the caller's transaction; returns counts per kind."""
    now = now or utcnow()
    res = PurgeResult()
    if (c := _cutoff(settings.dead_letters_days, now)) is not None:
        res.counts["dead_letters"] = session.execute(
            sa.delete(DeadLetter).where(DeadLetter.received < c)
        ).rowcount
    for status, days, when in (
        ("unidentified", settings.unidentified_events_days, Event.received),
        ("dismissed", settings.dismissed_events_days, Event.decided_at),
    ):
        if (c := _cutoff(days, now)) is None:
            continue
        # Neither status ever has a fine, so neither can be under appeal.
        pks = sa.select(Event.id).where(Event.status == status, when < c)
        _drop_evidence(session, pks, res, f"{status}_evidence")
        res.counts[f"{status}_events"] = session.execute(
            sa.delete(Event).where(Event.id.in_(pks)).execution_options(synchronize_session=False)
        ).rowcount
    if (c := _cutoff(settings.closed_fine_evidence_days, now)) is not None:
        under_appeal = sa.select(Appeal.fine_id).where(Appeal.status == "pending")
        pks = sa.select(Fine.event_pk).where(
            Fine.status.in_(("paid", "void")), Fine.closed_at < c, Fine.id.not_in(under_appeal)
        )
        _drop_evidence(session, pks, res, "closed_fine_evidence")
    if (c := _cutoff(settings.sessions_days, now)) is not None:
        res.counts["sessions"] = session.execute(
            sa.delete(ApiSession).where(ApiSession.expires < c)
        ).rowcount
    audit.record(session, actor.label, "retention.purge", "all", dict(res.counts))
    return res


def delete_orphan_blobs(
    sessions: sessionmaker[Session], evidence: EvidenceStore, candidates: set[str]
) -> int:
    """After the purge committed: delete candidate blobs no evidence row references."""
    if not candidates:
        return 0
    with sessions() as s:
        still = set(
            s.execute(sa.select(Evidence.sha256).where(Evidence.sha256.in_(candidates))).scalars()
        )
    for sha in candidates - still:
        evidence.delete(sha)
    return len(candidates - still)


def run_purge(
    sessions: sessionmaker[Session], evidence: EvidenceStore, settings: RetentionSettings
) -> dict[str, int]:
    with sessions.begin() as s:
        res = purge(s, settings)
    res.counts["blobs"] = delete_orphan_blobs(sessions, evidence, res.blob_candidates)
    return res.counts
