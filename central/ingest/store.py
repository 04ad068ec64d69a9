"""Store a batch of classified messages in one transaction, idempotently on event id.

``INSERT … ON CONFLICT (event_id) DO NOTHING RETURNING`` makes the DB itself decide
what is new, so two workers that receive the same replayed event can never both
store it; the loser reports 'duplicate'.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from central import audit
from central.evidence.signed import message_to_keep
from central.ingest.classify import (
    AcceptedEvent,
    AcceptedSnapshot,
    AcceptedStatus,
    Classified,
    Rejected,
    ThrottledSnapshot,
)
from central.store import dead_letter_bytes
from central.store.evidence import EvidenceStore
from central.store.models import (
    DEAD_LETTER_CUT_TO,
    CameraSnapshot,
    DeadLetter,
    Device,
    Event,
    Evidence,
    Person,
    utcnow,
)
from central.store.status import EventStatus
from jaywatch import wire

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    status: str  # stored | duplicate | rejected | status
    device_id: str | None
    event_id: str | None
    reason: str = ""


# What a dead letter keeps when it cannot keep its whole payload: a message bigger than
# the kept limit (never read by ingest) keeps this much of its start, for a person to look
# at; one evicted to stay under ingest.dead_letters_max_total_bytes keeps EVICTED_KEEP,
# and so does the sample of a coalesced row.
OVERSIZE_HEAD = 65_536
EVICTED_KEEP = DEAD_LETTER_CUT_TO
EVICT_SCAN = 1000  # rows looked at per eviction (the next batch goes on if still over)
EVICT_FOLD = 200  # rows folded per eviction at most (each a few statements)
# Kinds of reason per topic that get a coalesced row of their own; the rest share one.
MAX_GROUPS_PER_TOPIC = 32
OTHER_REASONS = "other reasons"


def dead_letter_row(r: Rejected, raw_limit: int) -> dict[str, Any]:
    """Total: topic and reason made printable (no NUL, no lone surrogate), so no database
    refuses the row for its text. The payload is kept whole when it fits ``raw_limit``
    (so it can be requeued), else only its first ``min(raw_limit, OVERSIZE_HEAD)`` bytes."""
    p = r.msg.payload
    keep = len(p) if len(p) <= raw_limit else min(raw_limit, OVERSIZE_HEAD)
    return {
        "received": utcnow(),
        "topic": wire.printable(r.msg.topic, 512),
        "reason": wire.printable(r.reason),
        "raw": p[:keep],
        "size": len(p),
        "sha256": hashlib.sha256(p).hexdigest(),
    }


def reason_key(reason: str) -> str:
    """The kind of a reason: what comes before its first colon (``invalid``, ``signature``,
    ``camera_id``, ``device 'x'``, ...): reasons are written "field: what is wrong", and
    the part after the colon may quote the message (so differs per message)."""
    head = reason.split(":", 1)[0].strip()
    return head[:80] or "no reason"


def insert_dead_letters(
    session: Session,
    rows: list[dict[str, Any]],
    max_total: int | None = None,
    per_topic: int | None = None,
) -> None:
    """Insert dead-letter rows, skipping any (topic, sha256) already there: retrying a batch
    after an outage, or the same bytes arriving again, must not show a bad message twice.
    ``rows`` as made by ``dead_letter_row``.

    With ``per_topic``, a topic (one device's violations, status or snapshots) keeps at most
    that many rows of its own: beyond, each new bad message is counted into its topic's
    coalesced row for that kind of reason (``coalesce_into``), so a device flooding bad
    messages cannot bury everyone else's or grow the table without bound. With
    ``max_total``, the dead letters' kept bytes are then brought within it
    (``evict_dead_letters``)."""
    if not rows:
        return
    rows = list({(r["topic"], r["sha256"]): r for r in reversed(rows)}.values())[::-1]
    alone = rows
    if per_topic is not None:
        alone, over = [], []
        room: dict[str, int] = {}
        for r in rows:
            t = r["topic"]
            if t not in room:
                room[t] = per_topic - _own_rows(session, t)
            if room[t] > 0:
                alone.append(r)
                room[t] -= 1
            else:
                over.append(r)
        for r in over:
            coalesce_into(session, r, per_topic)
    if alone:
        stmt = _insert(session)(DeadLetter).on_conflict_do_nothing(
            index_elements=["topic", "sha256"]
        )
        session.execute(stmt, alone)
    if max_total is not None:
        evict_dead_letters(session, max_total)


def _own_rows(session: Session, topic: str) -> int:
    return int(
        session.execute(
            sa.select(sa.func.count())
            .select_from(DeadLetter)
            .where(DeadLetter.topic == topic, DeadLetter.group_key.is_(None))
        ).scalar_one()
    )


def _group_for(session: Session, topic: str, reason: str) -> tuple[str, DeadLetter | None]:
    """(group key, its row or None) for a reason on ``topic``; a topic with
    MAX_GROUPS_PER_TOPIC kinds already counts further kinds under OTHER_REASONS."""
    key = reason_key(reason)
    groups = dict(
        session.execute(
            sa.select(DeadLetter.group_key, DeadLetter.id).where(
                DeadLetter.topic == topic, DeadLetter.group_key.is_not(None)
            )
        ).all()
    )
    if key not in groups and len(groups) >= MAX_GROUPS_PER_TOPIC:
        key = OTHER_REASONS
    row = session.get(DeadLetter, groups[key], with_for_update=True) if key in groups else None
    return key, row


def coalesce_into(session: Session, r: dict[str, Any], per_topic: int | None) -> str:
    """Count the bad message ``r`` into its topic's coalesced row for its kind of reason
    (made from ``r`` — its reason and first EVICTED_KEEP bytes as the sample — if there is
    none yet, with one ``dead_letter.coalesce`` audit entry). A message already kept (same
    topic and sha256) is not counted again. Returns 'counted', 'new' or 'duplicate'."""
    topic, sha = r["topic"], r["sha256"]
    known = session.execute(
        sa.select(DeadLetter.id).where(DeadLetter.topic == topic, DeadLetter.sha256 == sha)
    ).first()
    if known is not None:
        return "duplicate"
    key, group = _group_for(session, topic, r["reason"])
    if group is not None:
        group.messages += 1
        group.last_received = max(group.last_received or group.received, r["received"])
        session.flush()
        return "counted"
    session.execute(
        _insert(session)(DeadLetter)
        .values(
            {**r, "raw": r["raw"][:EVICTED_KEEP], "group_key": key, "messages": 1,
             "last_received": r["received"]}
        )
        .on_conflict_do_nothing(index_elements=["topic", "sha256"])
    )  # fmt: skip
    audit.record(
        session, "system:ingest", "dead_letter.coalesce", f"dead_letters:{topic}"[:200],
        {"topic": topic, "group": key, "per_topic": per_topic, "first_reason": r["reason"][:500]},
    )  # fmt: skip
    log.warning(
        "ingest: %s has %s dead letters of its own: further ones (%s) are counted in one row",
        topic, per_topic if per_topic is not None else "too many", key,
    )  # fmt: skip
    return "new"


def fold_dead_letter(session: Session, d: DeadLetter) -> None:
    """Fold the row ``d`` (not coalesced) into its topic's coalesced row for its kind of
    reason: the group's count, first and last times take it in and ``d`` goes; with no
    such group yet ``d`` becomes it (cut to its sample). Used by the total cap once
    nothing is left to cut."""
    key, group = _group_for(session, d.topic, d.reason)
    if group is not None:
        group.messages += d.messages
        group.received = min(group.received, d.received)
        group.last_received = max(group.last_received or group.received, d.received)
        session.delete(d)
    else:
        d.group_key, d.last_received = key, d.received
        if len(d.raw) > EVICTED_KEEP:
            d.raw = bytes(d.raw)[:EVICTED_KEEP]
    session.flush()


def evict_dead_letters(session: Session, max_total: int) -> list[int]:
    """Keep the dead letters' payload bytes within ``max_total``: whole payloads are kept so
    they can be requeued, but bad input must not fill the database. Over the cap, the
    OLDEST lose all but their first EVICTED_KEEP bytes (row, reason, size and sha256 stay;
    they can no longer be requeued) — oldest, because a recent failure is the one an admin
    is most likely still to fix and requeue. When no row is left to cut (a flood of small
    messages), the oldest rows are folded into their topic's coalesced rows
    (``fold_dead_letter``: counted, first/last seen, one sample per kind of reason). One
    audit entry names them (the caller's transaction: it commits with the insert). The
    total is the database's kept one (central/store/dead_letter_bytes.py), O(1) per call
    while under the cap. Returns the ids cut or folded."""
    total = dead_letter_bytes.total_and_tidy(session)
    if total <= max_total:
        return []
    over, freed, ids = total - max_total, 0, []
    kept = sa.func.length(DeadLetter.raw)
    rows = session.execute(
        sa.select(DeadLetter.id, kept)
        .where(sa.text(f"length(dead_letters.raw) > {EVICTED_KEEP}"))  # the partial index
        .order_by(DeadLetter.id)
        .limit(EVICT_SCAN)
    ).all()
    for dl_id, n in rows:
        ids.append(dl_id)
        freed += int(n) - EVICTED_KEEP
        if freed >= over:
            break
    if ids:
        session.execute(
            sa.update(DeadLetter)
            .where(DeadLetter.id.in_(ids))
            .values(raw=sa.func.substr(DeadLetter.raw, 1, EVICTED_KEEP))
            .execution_options(synchronize_session=False)
        )
    folded: list[int] = []
    if freed < over:
        before = dead_letter_bytes.total(session)
        for d in session.execute(
            sa.select(DeadLetter)
            .where(DeadLetter.group_key.is_(None))
            .order_by(DeadLetter.id)
            .limit(EVICT_FOLD)
            # Another worker folding at the same time takes other rows (PostgreSQL; SQLite
            # has one writer): the same row folded twice would be counted twice.
            .with_for_update(skip_locked=True)
        ).scalars():
            folded.append(d.id)
            fold_dead_letter(session, d)
            if before - dead_letter_bytes.total(session) >= over - freed:
                break
        freed += before - dead_letter_bytes.total(session)
    if not ids and not folded:
        return []
    audit.record(
        session, "system:ingest", "dead_letter.evict", "dead_letters",
        {"ids": ids, "folded": folded, "bytes_freed": freed, "kept_each": EVICTED_KEEP,
         "max_total_bytes": max_total, "total_before": total},
    )  # fmt: skip
    log.warning(
        "ingest: dead letters over %d bytes: kept only %d bytes of %d oldest, folded %d "
        "into coalesced rows (%d bytes freed)",
        max_total, EVICTED_KEEP, len(ids), len(folded), freed,
    )  # fmt: skip
    return ids + folded


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


CLIP_ROLE = "clip"  # evidence row of a violation's video, after the stills


def event_payload(a: AcceptedEvent, shas: list[str]) -> dict[str, Any]:
    """The signed message as JSON with each image replaced by its sha256 (images live in
    the evidence store); ``rebuild_signed`` reverses this to re-check the signature.
    The clip keeps its signed ``sha256``; only its bytes (``webm_b64``) are taken out.
    The match's ``alternatives`` are taken out too: the signed message (kept beside it,
    so the payload is never needed to rebuild it) has them as sent, and
    ``events.match_alternatives`` the ones a reviewer may see; both go with the
    event's identification data (central/retention.py), and the payload stays behind."""
    body = a.event.model_dump(mode="json")
    if isinstance(body.get("match"), dict):
        body["match"].pop("alternatives", None)
    for img, sha in zip(body["evidence"], shas, strict=True):
        img["jpeg_b64"] = None
        img["sha256"] = sha
    if body.get("clip") is not None:
        body["clip"]["webm_b64"] = None
    return body


def _alternatives(ev: wire.ViolationEvent, enrolled: set[str]) -> list[dict[str, Any]] | None:
    """The signed runner-ups a reviewer may be shown: persons enrolled here and not erased.

    An id central does not know (a person erased since the gateway's gallery was built,
    or a gallery that was never central's) is left out rather than refusing the event: the
    violation itself is sound, and an unknown id has no photo to compare with anyway. The
    signed message keeps what the gateway sent. None: nothing to show."""
    match = ev.match
    if match is None:
        return None
    kept = [
        {"person_id": a.person_id, "score": a.score}
        for a in match.alternatives
        if a.person_id in enrolled
    ]
    if len(kept) < len(match.alternatives):
        log.info(
            "event %s: %d of %d alternatives name no enrolled person; not shown",
            ev.event_id,
            len(match.alternatives) - len(kept),
            len(match.alternatives),
        )
    return kept or None


def store_batch(
    session: Session,
    items: list[Classified],
    evidence: EvidenceStore,
    raw_limit: int,
    dead_letters_max_total: int | None = None,
    dead_letters_per_topic: int | None = None,
    snapshot_min_interval_s: float = 0.0,
) -> list[Outcome]:
    """Write everything in ``items`` (caller commits); one Outcome per item, in order.
    Dead letters keep ``raw_limit`` bytes each, all together at most
    ``dead_letters_max_total`` (None: no cap), at most ``dead_letters_per_topic`` rows of
    their own per topic (None: no limit; beyond, coalesced). A camera's snapshot sooner
    than ``snapshot_min_interval_s`` after its stored one is dropped and counted."""
    events = [c for c in items if isinstance(c, AcceptedEvent)]
    outcomes: dict[int, Outcome] = {}
    if events:
        match_ids = {e.event.match.person_id for e in events if e.event.match}
        match_ids |= {
            a.person_id for e in events if e.event.match for a in e.event.match.alternatives
        }
        enrolled = set()
        if match_ids:
            enrolled = set(
                session.execute(
                    sa.select(Person.id).where(Person.id.in_(match_ids), Person.erased_at.is_(None))
                ).scalars()
            )
        rows, shas_by_eid, seen = [], {}, set()
        now = utcnow()
        for a in events:
            ev = a.event
            if ev.event_id in seen:
                continue
            seen.add(ev.event_id)
            shas = [evidence.put(img) for img in a.images]
            if a.clip is not None:
                evidence.put(a.clip)  # named by the sha256 the device signed (classify checked)
            # The signed message itself, verbatim: what a court export and every later
            # re-check of the signature need (central.evidence.signed).
            message_sha = evidence.put(message_to_keep(a.msg.payload, ev))
            shas_by_eid[ev.event_id] = (a, shas)
            matched = ev.match is not None and ev.match.person_id in enrolled
            if a.quarantine:  # for an admin to see; never queued for review, never fined
                status = EventStatus.quarantined
            else:
                status = EventStatus.pending_review if matched else EventStatus.unidentified
            alternatives = None
            if status == EventStatus.pending_review and ev.match is not None:
                alternatives = _alternatives(ev, enrolled)
            rows.append(
                {
                    "event_id": ev.event_id,
                    "device_id": ev.device_id,
                    "camera_id": ev.camera_id,
                    "occurred": ev.occurred,
                    "received": now,
                    "offence_code": ev.offence_code,
                    "status": status,
                    "reason_code": a.quarantine,
                    "match_person_id": ev.match.person_id if matched else None,
                    "match_score": ev.match.score if matched else None,
                    "match_alternatives": alternatives,
                    "payload": event_payload(a, shas),
                    "message_sha256": message_sha,
                }
            )
        stmt = (
            _insert(session)(Event)
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(Event.id, Event.event_id)
        )
        inserted = {eid: pk for pk, eid in session.execute(stmt, rows).all()} if rows else {}
        ev_rows = []
        for eid, pk in inserted.items():
            a, shas = shas_by_eid[eid]
            for pos, (img, sha, data) in enumerate(
                zip(a.event.evidence, shas, a.images, strict=True)
            ):
                ev_rows.append(
                    {
                        "event_pk": pk,
                        "position": pos,
                        "role": img.role,
                        "sha256": sha,
                        "size": len(data),
                    }
                )
            if a.clip is not None:
                ev_rows.append(
                    {
                        "event_pk": pk,
                        "position": len(a.event.evidence),
                        "role": CLIP_ROLE,
                        "sha256": a.event.clip.sha256,  # type: ignore[union-attr]
                        "size": len(a.clip),
                    }
                )
        if ev_rows:
            session.execute(sa.insert(Evidence), ev_rows)
        stored_once: set[str] = set()
        for i, c in enumerate(items):
            if isinstance(c, AcceptedEvent):
                eid = c.event.event_id
                new = eid in inserted and eid not in stored_once
                stored_once.add(eid)
                outcomes[i] = Outcome("stored" if new else "duplicate", c.event.device_id, eid)
    for i, c in enumerate(items):
        if isinstance(c, AcceptedStatus):
            from central.workflow.devices import history_after

            s = c.status
            _log_alert_changes(session, s)
            seen = utcnow()
            previous = session.execute(
                sa.select(Device.status).where(Device.id == s.device_id)
            ).scalar_one_or_none()
            stored = s.model_dump(mode="json", exclude={"signature"})
            stored["history"] = history_after(previous, s, seen)  # the page's sparklines
            session.execute(
                sa.update(Device)
                .where(Device.id == s.device_id)
                .values(
                    last_seen=seen,
                    online=s.online,
                    outbox_depth=s.outbox_depth,
                    status=stored,
                )
            )
            outcomes[i] = Outcome("status", s.device_id, None)
    late: dict[int, Rejected] = {}
    dropped: Counter[str] = Counter()
    for i, c in enumerate(items):
        if isinstance(c, AcceptedSnapshot):
            why = store_snapshot(session, c, snapshot_min_interval_s)
            if why is None:
                outcomes[i] = Outcome("snapshot", c.snapshot.device_id, None)
            elif why is SNAPSHOT_TOO_SOON:
                dropped[c.snapshot.device_id] += 1
                outcomes[i] = Outcome(DROPPED, c.snapshot.device_id, None)
            else:
                late[i] = Rejected(c.msg, wire.printable(why), c.snapshot.device_id, None)
        elif isinstance(c, ThrottledSnapshot):
            dropped[c.device_id] += 1
            outcomes[i] = Outcome(DROPPED, c.device_id, None)
    if dropped:
        count_dropped_snapshots(session, dropped)
    dead = [(i, c) for i, c in enumerate(items) if isinstance(c, Rejected)] + list(late.items())
    if dead:
        insert_dead_letters(
            session,
            [dead_letter_row(c, raw_limit) for _, c in dead],
            dead_letters_max_total,
            dead_letters_per_topic,
        )
        for i, c in dead:
            outcomes[i] = Outcome("rejected", c.device_id, c.event_id, c.reason)
    return [outcomes[i] for i in range(len(items))]


# Snapshots are kept for at most this many cameras per device (wire.DeviceStatus carries
# at most 64 cameras too): no device can fill the table with invented camera ids.
MAX_SNAPSHOT_CAMERAS = 64


# What store_snapshot returns for a snapshot that came too soon; Outcome status of one.
SNAPSHOT_TOO_SOON = "too soon"
DROPPED = "snapshot_dropped"


def count_dropped_snapshots(session: Session, by_device: Counter[str]) -> None:
    """Add the batch's dropped snapshots to their devices' counters (one UPDATE each)."""
    now = utcnow()
    for device_id, n in by_device.items():
        session.execute(
            sa.update(Device)
            .where(Device.id == device_id)
            .values(snapshots_dropped=Device.snapshots_dropped + n, snapshots_dropped_last=now)
        )


def store_snapshot(
    session: Session, a: AcceptedSnapshot, min_interval_s: float = 0.0
) -> str | None:
    """Keep ``a`` as its camera's latest snapshot (overwriting an older one; an older one
    arriving late changes nothing). Returns why it is refused, SNAPSHOT_TOO_SOON when the
    camera's stored one was received less than ``min_interval_s`` ago (across workers:
    the database's time of the stored row), or None. Camera ids are not
    checked against the registry (``device add --camera`` is descriptive; events and
    heartbeats are not checked either, and a mislabelled camera would dead-letter a
    snapshot a minute), only bounded per device."""
    snap = a.snapshot
    have = dict(
        session.execute(
            sa.select(CameraSnapshot.camera_id, CameraSnapshot.received).where(
                CameraSnapshot.device_id == snap.device_id
            )
        ).all()
    )
    now = utcnow()
    last = have.get(snap.camera_id)
    if last is not None and min_interval_s > 0 and (now - last).total_seconds() < min_interval_s:
        return SNAPSHOT_TOO_SOON
    if snap.camera_id not in have and len(have) >= MAX_SNAPSHOT_CAMERAS:
        return f"camera_id: device {snap.device_id} already has {len(have)} cameras' snapshots"
    try:  # only now decoded: one that is refused above costs no decoding
        jpeg = a.reencoded()
    except ValueError as e:
        return str(e)
    values = {
        "device_id": snap.device_id,
        "camera_id": snap.camera_id,
        "taken": snap.taken,
        "received": now,
        "width": snap.width,
        "height": snap.height,
        "blurred_people": snap.blurred_people,
        "blurred_faces": snap.blurred_faces,
        "jpeg": jpeg,
    }
    stmt = _insert(session)(CameraSnapshot).values(values)
    update = {k: getattr(stmt.excluded, k) for k in values if k not in ("device_id", "camera_id")}
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["device_id", "camera_id"],
            set_=update,
            where=CameraSnapshot.taken < stmt.excluded.taken,
        )
    )
    return None


def _log_alert_changes(session: Session, s: Any) -> None:
    """A camera alert (e.g. its signal unknown for too long) is logged once when it
    starts and once when it ends, comparing with the heartbeat stored before."""
    from central.workflow.devices import alerts_of

    if not s.online:  # a last will carries no cameras: nothing was cleared, it went away
        return
    before = session.execute(sa.select(Device.status).where(Device.id == s.device_id)).scalar()
    now = s.model_dump(mode="json", exclude={"signature"})
    old, new = alerts_of(before), alerts_of(now)
    for cam, check in sorted(new - old):
        reasons = [k.reason for c in s.cameras if c.camera_id == cam for k in c.checks]
        kinds = [k.check for c in s.cameras if c.camera_id == cam for k in c.checks]
        reason = reasons[kinds.index(check)] if check in kinds else check
        log.warning("ALERT device %s camera %s: %s", s.device_id, cam, reason)
    for cam, check in sorted(old - new):
        log.info("device %s camera %s: %s alert cleared", s.device_id, cam, check)


def load_device_keys(session: Session) -> dict[str, bytes]:
    rows = session.execute(
        sa.select(Device.id, Device.public_key).where(Device.disabled.is_(False))
    ).all()
    return {d: bytes(k) for d, k in rows}
