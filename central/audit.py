"""Tamper-evident audit log: an append-only sha256 hash chain in the database.

Each entry's hash covers its canonical JSON including the previous entry's hash, so
editing any entry breaks its own hash and deleting one breaks the link of the next.
Deleting the newest entries is only visible against a head hash kept elsewhere
(``verify(expect_head=...)``), e.g. the one printed by ``audit verify`` last time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.store.models import AuditEntry, utcnow

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 0x4A415741  # advisory lock id serialising appends on PostgreSQL


def entry_hash(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any],
    prev_hash: str,
) -> str:
    body = {
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "target": target,
        "details": details,
        "prev": prev_hash,
    }
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def record(
    session: Session,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry inside the caller's transaction (commits with the decision)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    session.flush()
    last = session.execute(
        sa.select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    # Round-trip through JSON so the hash covers exactly what the DB stores.
    details = json.loads(json.dumps(details or {}, default=str))
    at = utcnow()
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        target=target,
        details=details,
        prev_hash=prev,
        hash=entry_hash(seq, at, actor, action, target, details, prev),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditReport:
    entries: int
    head: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, expect_head: str | None = None) -> AuditReport:
    """Walk the chain; report every entry whose hash or link is wrong and every gap."""
    problems: list[str] = []
    prev, expected_seq, n = GENESIS, 1, 0
    rows = session.execute(sa.select(AuditEntry).order_by(AuditEntry.seq)).scalars()
    for e in rows:
        n += 1
        if e.seq != expected_seq:
            problems.append(f"entries {expected_seq}..{e.seq - 1} are missing (deleted)")
        if e.prev_hash != prev:
            problems.append(f"entry {e.seq}: prev_hash does not match entry before it")
        h = entry_hash(e.seq, e.at, e.actor, e.action, e.target, e.details, e.prev_hash)
        if h != e.hash:
            problems.append(f"entry {e.seq}: content does not match its hash (edited)")
        prev, expected_seq = e.hash, e.seq + 1
        session.expunge(e)
    if expect_head is not None and prev != expect_head:
        problems.append(f"head is {prev}, expected {expect_head} (newest entries removed?)")
    return AuditReport(entries=n, head=prev, problems=problems)
