"""Reading an event's evidence (stills, face crop, clip): one function for the API and the
console, one audit detail shape (``{"n", "sha256"}``), and page views audited once.

Every read of personal data is audited (principle 7), but an operator opening one event
used to write about ten entries (the page, then each still, the face, the clip and each
enrolment photo, each with its own ``event.read``) that drowned the decisions in the log.
Now the page writes ONE ``event.read`` entry listing everything it shows (``open_view``);
the image requests that carry its id (``?view=<seq>``) are covered by it and write
nothing. A request without a view id, with a view of another user or event, one older
than ``VIEW_TTL``, or for a file the view did not list is audited on its own
(``evidence.read``), as every API read is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central import audit
from central.evidence import integrity
from central.evidence.package import Package
from central.evidence.package import build as build_package
from central.store.evidence import EvidenceStore
from central.store.models import AuditEntry, Event, Evidence, PersonPhoto, utcnow
from central.workflow.common import Actor, NotFound, require_role

READ_ROLES = ("operator", "supervisor", "auditor")
VIEW_ACTION = "event.read"  # the grouped entry of one page view
READ_ACTION = "evidence.read"  # one file read outside a page view (API, direct link)
VIEW_TTL = timedelta(minutes=15)  # a page left open longer re-audits what it loads
MEDIA_TYPES = {"clip": "video/webm"}  # every other role is a JPEG still


@dataclass(frozen=True)
class EvidenceFile:
    """One evidence file of an event, checked against its sha256 name."""

    n: int
    role: str
    sha256: str
    media_type: str
    data: bytes


def _rows(session: Session, event_id: str) -> list[tuple[int, str, str]]:
    return [
        (pos, role, sha)
        for pos, role, sha in session.execute(
            sa.select(Evidence.position, Evidence.role, Evidence.sha256)
            .join(Event, Event.id == Evidence.event_pk)
            .where(Event.event_id == event_id)
            .order_by(Evidence.position)
        ).all()
    ]


def open_view(
    session: Session,
    actor: Actor,
    event_id: str,
    photos: list[PersonPhoto] | None = None,
    where: str = "console",
    alternatives: list[tuple[str, PersonPhoto | None]] | None = None,
) -> int:
    """Audit one page view of an event: one ``event.read`` entry whose details list
    every evidence file (``{"n", "sha256"}``) and enrolment photo the page shows, and
    the match's runner-ups it shows (``alternatives``: ``{"n", "person_id"}`` plus the
    ``sha256`` of the photo shown for it, if any).
    Returns the entry's ``seq``: the view id the page's image URLs carry.

    Raises:
        Forbidden: not a reviewer, supervisor or auditor. NotFound: unknown event.
    """
    require_role(actor, *READ_ROLES)
    if session.execute(sa.select(Event.id).where(Event.event_id == event_id)).scalar() is None:
        raise NotFound(f"event {event_id}: not found")
    details: dict[str, Any] = {
        "view": where,
        "evidence": [{"n": n, "sha256": sha} for n, _role, sha in _rows(session, event_id)],
    }
    if photos:
        details["photos"] = [{"n": i, "sha256": p.sha256} for i, p in enumerate(photos)]
    if alternatives:
        details["alternatives"] = [
            {"n": i, "person_id": pid} | ({"sha256": p.sha256} if p is not None else {})
            for i, (pid, p) in enumerate(alternatives)
        ]
    return audit.record(session, actor.label, VIEW_ACTION, f"event:{event_id}", details).seq


def covered(
    session: Session, actor: Actor, event_id: str, view: int | None, kind: str, n: int, sha: str
) -> bool:
    """Whether page view ``view`` of this actor already audited file ``n`` (of ``kind``:
    ``evidence`` or ``photos``) with this sha256, recently enough."""
    if view is None:
        return False
    e = session.execute(sa.select(AuditEntry).where(AuditEntry.seq == view)).scalar()
    if (
        e is None
        or e.actor != actor.label
        or e.action != VIEW_ACTION
        or e.target != f"event:{event_id}"
        or not isinstance(e.details, dict)
        or "view" not in e.details
    ):
        return False
    at = e.at if e.at.tzinfo is not None else e.at.replace(tzinfo=utcnow().tzinfo)
    if utcnow() - at > VIEW_TTL:
        return False
    listed = e.details.get(kind) or []
    return any(isinstance(x, dict) and x.get("n") == n and x.get("sha256") == sha for x in listed)


def read_evidence(
    tx: integrity.Tx,
    store: EvidenceStore,
    actor: Actor,
    event_id: str,
    n: int,
    where: str,
    view: int | None = None,
    count: bool = True,
) -> EvidenceFile:
    """Evidence file ``n`` of an event, its bytes checked against their sha256 name.

    Audited as ``evidence.read`` ``{"n", "sha256"}`` unless page view ``view`` covers it
    or ``count`` is false (a video's later byte-range requests of one viewing).
    ``tx`` opens a transaction (``sessions.begin``); an altered file is recorded in one
    of its own (``integrity.record_altered``, ``where`` says who read it).

    Raises:
        Forbidden. NotFound: unknown event, no file ``n``, or its bytes purged.
        integrity.EvidenceAltered: the bytes are not what the device signed.
    """
    require_role(actor, *READ_ROLES)
    with tx() as s:
        row = next((r for r in _rows(s, event_id) if r[0] == n), None)
        if row is None:
            raise NotFound(f"event {event_id}: no evidence file {n}")
        _pos, role, sha = row
        if count and not covered(s, actor, event_id, view, "evidence", n, sha):
            audit.record(s, actor.label, READ_ACTION, f"event:{event_id}", {"n": n, "sha256": sha})
    try:
        data = integrity.read_blob(store, sha)
    except KeyError:
        raise NotFound(f"event {event_id}: evidence file {n} purged") from None
    except integrity.BlobAltered:
        problem = f"evidence {n} ({role}): ALTERED on disk"
        integrity.record_altered(tx, event_id, [problem], actor.label, where)
        raise integrity.EvidenceAltered(event_id, [problem]) from None
    return EvidenceFile(n, role, sha, MEDIA_TYPES.get(role, "image/jpeg"), data)


def evidence_package(
    tx: integrity.Tx, store: EvidenceStore, actor: Actor, reference: str, channel: str
) -> Package:
    """The evidence package of a fine reference or an event id (zip: PDF, signed message,
    device key, standalone verifier), audited by ``build``; the API and the console both
    call this. ``channel`` names the caller in the audit entry ("staff (API)").

    Raises:
        NotFound: unknown or purged.
        integrity.EvidenceAltered: nothing is packaged; recorded (as an "export") first.
    """
    try:
        with tx() as s:
            return build_package(s, store, reference, actor.label, channel)
    except integrity.EvidenceAltered as e:
        integrity.record_altered(tx, e.event_id, e.problems, actor.label, "export")
        raise
