"""Re-verification of stored events: ``jaywatch central evidence verify`` and the
periodic scrub (deploy/systemd/jaywatch-evidence-scrub.timer) that runs it with --all.

Per event: ``integrity.verify_event``. A failure flags the event and is audited; an
event found whole again loses its flag (audited too); an event stored before messages
were kept whose rebuilt message verifies gets it stored (the migration's backfill).
A run over all events is recorded in ``evidence_scrubs`` and the audit log, and shown
by ``GET /api/health`` and ``GET /metrics``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from central import audit
from central.evidence.integrity import Verdict, record_altered, verify_event
from central.store.evidence import EvidenceStore
from central.store.models import Event, EvidenceScrub, utcnow

MAX_FAILED_KEPT = 500  # failures listed in one scrub row (the count is always exact)


@dataclass
class ScrubResult:
    started: datetime
    checked: int = 0
    purged: int = 0
    backfilled: int = 0
    restored: int = 0
    failed: list[Verdict] = field(default_factory=list)


def verify_one(
    sessions: sessionmaker[Session], store: EvidenceStore, pk: int, actor: str, res: ScrubResult
) -> Verdict:
    with sessions() as s:
        e = s.get(Event, pk)
        if e is None:  # purged meanwhile
            return Verdict("?", purged=True)
        v = verify_event(s, store, e)
        event_id, flagged = e.event_id, e.evidence_altered_at is not None
    res.checked += 1
    if v.purged:
        res.purged += 1
    if not v.ok:
        res.failed.append(v)
        record_altered(sessions.begin, event_id, v.problems, actor, "verify")
        return v
    if v.legacy and v.message is not None:
        sha = store.put(v.message)
        with sessions.begin() as s:
            s.execute(sa.update(Event).where(Event.id == pk).values(message_sha256=sha))
            audit.record(
                s, actor, "evidence.message_backfilled", f"event:{event_id}", {"sha256": sha}
            )
        res.backfilled += 1
    if flagged:
        with sessions.begin() as s:
            s.execute(
                sa.update(Event)
                .where(Event.id == pk)
                .values(evidence_altered_at=None, evidence_problems=None)
            )
            audit.record(s, actor, "evidence.intact_again", f"event:{event_id}")
        res.restored += 1
    return v


def event_pks(sessions: sessionmaker[Session], event_id: str | None = None) -> list[int]:
    with sessions() as s:
        q = sa.select(Event.id).order_by(Event.id)
        if event_id is not None:
            q = q.where(Event.event_id == event_id)
        return list(s.execute(q).scalars())


def verify_all(
    sessions: sessionmaker[Session],
    store: EvidenceStore,
    actor: str,
    progress: Callable[[int, int], None] | None = None,
) -> ScrubResult:
    """Every event, one short transaction each (the service keeps running meanwhile);
    the run is recorded as a scrub."""
    res = ScrubResult(started=utcnow())
    pks = event_pks(sessions)
    for i, pk in enumerate(pks):
        verify_one(sessions, store, pk, actor, res)
        if progress is not None:
            progress(i + 1, len(pks))
    record_scrub(sessions, res, actor)
    return res


def record_scrub(sessions: sessionmaker[Session], res: ScrubResult, actor: str) -> None:
    failed = [{"event_id": v.event_id, "problems": v.problems} for v in res.failed]
    with sessions.begin() as s:
        s.add(
            EvidenceScrub(
                started=res.started,
                finished=utcnow(),
                actor=actor,
                events_checked=res.checked,
                events_failed=len(res.failed),
                failed=failed[:MAX_FAILED_KEPT],
            )
        )
        audit.record(
            s,
            actor,
            "evidence.scrub",
            "events",
            {
                "checked": res.checked,
                "failed": [f["event_id"] for f in failed[:MAX_FAILED_KEPT]],
                "failed_count": len(failed),
                "backfilled": res.backfilled,
                "restored": res.restored,
            },
        )


def last_scrub(session: Session) -> EvidenceScrub | None:
    return session.execute(
        sa.select(EvidenceScrub).order_by(EvidenceScrub.id.desc()).limit(1)
    ).scalar()
