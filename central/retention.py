"""Retention: delete each kind of record once its configured time is up (principle 7).

Evidence of a fine under an open appeal is never purged; the files sent with a closed
fine's appeals go with its evidence. Blobs are deleted only after
the rows that referenced them are committed away, and only if nothing references them
any more (the store is content-addressed: two events may share an image).

When a closed fine's evidence goes, its SMS notices lose their personal data too: the
rendered text (it holds the citizen's access code), the destination phone number, the
template parameters other than the fine reference (the access code again) and the last
error (it may name the number). What stays is that a notice of that kind went out, when,
and its delivery state; provider message ids are not personal data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from central import audit
from central.config import RetentionSettings
from central.notices.models import NoticeDelivery
from central.store.evidence import EvidenceStore
from central.store.models import (
    ApiSession,
    Appeal,
    AppealAttachment,
    CameraSnapshot,
    DeadLetter,
    Event,
    Evidence,
    Fine,
    Notice,
    PersonPhoto,
    utcnow,
)
from central.store.status import APPEAL_OPEN, EventStatus, FineStatus, NoticeStatus
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
    # The kept signed message carries the same images inline: it goes with them.
    messages = session.execute(
        sa.select(Event.id, Event.message_sha256).where(
            Event.id.in_(event_pks), Event.message_sha256.is_not(None)
        )
    ).all()
    if messages:
        session.execute(
            sa.update(Event)
            .where(Event.id.in_([m[0] for m in messages]))
            .values(message_sha256=None)
            .execution_options(synchronize_session=False)
        )
    result.blob_candidates.update(m[1] for m in messages)
    # The matcher's runner-ups are identification data like the face crop: they go too.
    session.execute(
        sa.update(Event)
        .where(Event.id.in_(event_pks), Event.match_alternatives.is_not(None))
        .values(match_alternatives=sa.null())
        .execution_options(synchronize_session=False)
    )
    result.counts[kind] = len(rows)


def _drop_appeal_files(session: Session, fine_ids: sa.Select, result: PurgeResult) -> int:
    """The files sent with appeals of these fines go with the fines' evidence."""
    appeal_ids = sa.select(Appeal.id).where(Appeal.fine_id.in_(fine_ids))
    rows = session.execute(
        sa.select(AppealAttachment.id, AppealAttachment.sha256).where(
            AppealAttachment.appeal_id.in_(appeal_ids)
        )
    ).all()
    if rows:
        session.execute(
            sa.delete(AppealAttachment).where(AppealAttachment.id.in_([r[0] for r in rows]))
        )
    result.blob_candidates.update(r[1] for r in rows)
    return len(rows)


# A notice still to be sent, or waiting for a person to decide whether it was, needs its
# text and number; it is redacted by the first purge after it has settled.
_UNSETTLED = (NoticeStatus.pending, NoticeStatus.submitting, NoticeStatus.check_required)


def redact_notices(session: Session, which: sa.ColumnElement[bool]) -> int:
    """Strip personal data from the settled notices ``which`` selects (e.g. those of some
    fines, or of an erased person); returns how many notices changed (already redacted
    ones are not counted again)."""
    settled = sa.and_(which, Notice.status.not_in(_UNSETTLED))
    notices = session.execute(sa.select(Notice).where(settled)).scalars()
    changed: set[int] = set()
    for n in notices:
        kept = {k: v for k, v in (n.params or {}).items() if k == "reference"}
        if n.params != kept or n.last_error is not None:
            n.params, n.last_error = kept, None
            changed.add(n.id)
    ids = sa.select(Notice.id).where(settled)
    rows = session.execute(
        sa.update(NoticeDelivery)
        .where(
            NoticeDelivery.notice_id.in_(ids),
            sa.or_(NoticeDelivery.text.is_not(None), NoticeDelivery.to_e164.is_not(None)),
        )
        .values(text=None, to_e164=None)
        .returning(NoticeDelivery.notice_id)
        .execution_options(synchronize_session=False)
    ).scalars()
    changed.update(rows)
    session.flush()
    return len(changed)


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
        (EventStatus.unidentified, settings.unidentified_events_days, Event.received),
        (EventStatus.quarantined, settings.quarantined_events_days, Event.received),
        (EventStatus.dismissed, settings.dismissed_events_days, Event.decided_at),
    ):
        if (c := _cutoff(days, now)) is None:
            continue
        # None of these statuses ever has a fine, so none can be under appeal.
        pks = sa.select(Event.id).where(Event.status == status, when < c)
        _drop_evidence(session, pks, res, f"{status}_evidence")
        res.counts[f"{status}_events"] = session.execute(
            sa.delete(Event).where(Event.id.in_(pks)).execution_options(synchronize_session=False)
        ).rowcount
    if (c := _cutoff(settings.closed_fine_evidence_days, now)) is not None:
        under_appeal = sa.select(Appeal.fine_id).where(Appeal.status.in_(APPEAL_OPEN))
        closed = (
            Fine.status.in_((FineStatus.paid, FineStatus.void)),
            Fine.closed_at < c,
            Fine.id.not_in(under_appeal),
        )
        _drop_evidence(
            session, sa.select(Fine.event_pk).where(*closed), res, "closed_fine_evidence"
        )
        res.counts["closed_fine_appeal_files"] = _drop_appeal_files(
            session, sa.select(Fine.id).where(*closed), res
        )
        res.counts["closed_fine_notices"] = redact_notices(
            session, Notice.fine_id.in_(sa.select(Fine.id).where(*closed))
        )
    if (c := _cutoff(settings.snapshots_days, now)) is not None:
        res.counts["camera_snapshots"] = session.execute(
            sa.delete(CameraSnapshot).where(CameraSnapshot.received < c)
        ).rowcount
    if (c := _cutoff(settings.sessions_days, now)) is not None:
        res.counts["sessions"] = session.execute(
            sa.delete(ApiSession).where(ApiSession.expires < c)
        ).rowcount
    audit.record(session, actor.label, "retention.purge", "all", dict(res.counts))
    return res


def delete_orphan_blobs(
    sessions: sessionmaker[Session], evidence: EvidenceStore, candidates: set[str]
) -> int:
    """After the purge committed: delete candidate blobs no evidence row references (nor
    an enrolment photo or an appeal file: the store is shared, and a photo lasts as long
    as its enrolment, an appeal file as long as its fine's evidence)."""
    if not candidates:
        return 0
    with sessions() as s:
        still = (
            set(
                s.execute(
                    sa.select(Evidence.sha256).where(Evidence.sha256.in_(candidates))
                ).scalars()
            )
            | set(
                s.execute(
                    sa.select(PersonPhoto.sha256).where(PersonPhoto.sha256.in_(candidates))
                ).scalars()
            )
            | set(
                s.execute(
                    sa.select(Event.message_sha256).where(Event.message_sha256.in_(candidates))
                ).scalars()
            )
            | set(
                s.execute(
                    sa.select(AppealAttachment.sha256).where(
                        AppealAttachment.sha256.in_(candidates)
                    )
                ).scalars()
            )
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
