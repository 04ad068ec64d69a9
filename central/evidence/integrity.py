"""Is an event's evidence what its device signed? Checked on every read of it.

``verify_event`` re-checks everything from the bytes at rest: the kept signed message
(its name is its sha256), the device's Ed25519 signature over it with the registered
key, and each stored image (and clip) against the sha256 of what the message signed.
A few files per event: about a millisecond (bench/bench_evidence_integrity.py), so
every page, image, API read, download and confirmation runs it.

A failure is refused, never shown as if nothing happened: ``record_altered`` flags the
event (it cannot be confirmed while flagged), writes an audit entry, logs an error and
counts ``jaywatch_central_evidence_altered_total``. Only ``jaywatch central evidence
verify`` finding the event whole again clears the flag (e.g. after restoring the file
from a backup), with an audit entry of its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from central import audit
from central.evidence.metrics import ALTERED
from central.evidence.signed import rebuild_legacy
from central.evidence.standalone_verify import (
    signed_body,
    signed_clip_sha256,
    signed_images,
)
from central.store.evidence import EvidenceStore
from central.store.models import Device, Event, Evidence, utcnow
from central.workflow.common import Conflict

log = logging.getLogger(__name__)
CLIP_ROLE = "clip"


class BlobAltered(Exception):
    """The bytes stored under a sha256 name no longer hash to it."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"blob {sha256}: bytes do not match their sha256")
        self.sha256 = sha256


class EvidenceAltered(Conflict):
    """The event's evidence is not what the device signed: refused (409)."""

    def __init__(self, event_id: str, problems: list[str]) -> None:
        super().__init__(f"event {event_id}: evidence altered — " + "; ".join(problems))
        self.event_id = event_id
        self.problems = problems


def read_blob(store: EvidenceStore, sha256: str) -> bytes:
    """The bytes named ``sha256``, checked; KeyError when absent, BlobAltered when changed."""
    data = store.get(sha256)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise BlobAltered(sha256)
    return data


@dataclass(frozen=True)
class Verdict:
    event_id: str
    problems: list[str] = field(default_factory=list)
    purged: bool = False  # retention removed the evidence: nothing left to check
    message: bytes | None = None  # the signed message, when it verified
    legacy: bool = False  # rebuilt from payload + images (stored before messages were kept)

    @property
    def ok(self) -> bool:
        return not self.problems


def _blob_problem(store: EvidenceStore, sha: str, what: str) -> str | None:
    try:
        read_blob(store, sha)
    except KeyError:
        return f"{what}: missing from the evidence store"
    except BlobAltered:
        return f"{what}: ALTERED on disk (sha256 {sha} no longer matches its bytes)"
    return None


def verify_event(session: Session, store: EvidenceStore, e: Event) -> Verdict:
    """Every check on one event's evidence; reads only (the caller records a failure)."""
    rows = session.execute(
        sa.select(Evidence.position, Evidence.role, Evidence.sha256)
        .where(Evidence.event_pk == e.id)
        .order_by(Evidence.position)
    ).all()
    problems: list[str] = []
    message: bytes | None = None
    legacy = False
    if e.message_sha256 is not None:
        try:
            message = read_blob(store, e.message_sha256)
        except KeyError:
            problems.append("signed message: missing from the evidence store")
        except BlobAltered:
            problems.append("signed message: ALTERED on disk")
    elif rows:
        legacy = True
        with contextlib.suppress(KeyError):  # the per-image checks below name the blob
            message = rebuild_legacy(e.payload, store)
    else:
        return Verdict(e.event_id, purged=True)
    for pos, role, sha in rows:
        p = _blob_problem(store, sha, f"evidence {pos} ({role})")
        if p:
            problems.append(p)
    if message is not None:
        problems += _check_message(session, e, message, rows, legacy)
    return Verdict(
        e.event_id,
        problems=problems,
        message=message if not problems else None,
        legacy=legacy,
    )


def _check_message(
    session: Session, e: Event, message: bytes, rows: list[Any], legacy: bool
) -> list[str]:
    dev = session.get(Device, e.device_id)
    if dev is None:
        return [f"device {e.device_id}: not registered (no public key to check against)"]
    body, why = signed_body(message, Ed25519PublicKey.from_public_bytes(bytes(dev.public_key)))
    if body is None:
        where = " (rebuilt from the stored payload and images)" if legacy else ""
        return [f"signed message{where}: {why}"]
    problems = []
    if body.get("event_id") != e.event_id or body.get("device_id") != e.device_id:
        problems.append("signed message: belongs to another event or device")
    stored = [(role, sha) for _pos, role, sha in rows if role != CLIP_ROLE]
    signed = signed_images(body)
    if stored and stored != signed:  # no rows at all: purged by retention
        problems.append(
            f"evidence: the stored images {[r for r, _ in stored]} are not the "
            f"{len(signed)} images the device signed"
        )
    clip_sha = signed_clip_sha256(body)
    clips = [sha for _pos, role, sha in rows if role == CLIP_ROLE]
    if rows and clips != ([clip_sha] if clip_sha else []):  # no rows at all: purged
        problems.append(
            "clip: the stored clip is not the one the device signed"
            if clip_sha
            else "clip: stored, but the device signed none"
        )
    return problems


Tx = Callable[[], AbstractContextManager[Session]]


def record_altered(tx: Tx, event_id: str, problems: list[str], actor: str, where: str) -> None:
    """Flag the event, audit, log and count: in a transaction of its own (``tx``), since
    the refused request's own transaction is rolled back."""
    with tx() as s:
        e = s.execute(sa.select(Event).where(Event.event_id == event_id)).scalar()
        if e is None:
            return
        first = e.evidence_altered_at is None
        if first:
            e.evidence_altered_at = utcnow()
        e.evidence_problems = list(problems)
        audit.record(
            s,
            actor,
            "evidence.altered",
            f"event:{event_id}",
            {"problems": problems, "where": where, "first": first},
        )
    ALTERED.labels(where).inc()
    log.error("ALERT event %s: evidence altered (%s): %s", event_id, where, "; ".join(problems))


def check(
    tx: Tx, sessions: Callable[[], AbstractContextManager[Session]], store: EvidenceStore,
    event_id: str, actor: str, where: str,
) -> Verdict:  # fmt: skip
    """``verify_event`` for one event by id; a failure is recorded (``record_altered``).
    A verdict of an event still flagged from an earlier failure carries its problems."""
    with sessions() as s:
        e = s.execute(sa.select(Event).where(Event.event_id == event_id)).scalar()
        if e is None:
            return Verdict(event_id, ["event: not found"])
        v = verify_event(s, store, e)
        flagged = list(e.evidence_problems or []) if e.evidence_altered_at else []
    if not v.ok:
        record_altered(tx, event_id, v.problems, actor, where)
        return v
    if flagged:
        return Verdict(event_id, [*flagged, "(flagged earlier; `evidence verify` clears it)"])
    return v
