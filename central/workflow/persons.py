"""Enrolment, erasure and audited reads of persons.

Enrolment records the person only: they enter edge galleries when an admin uploads a
snapshot that holds their embeddings (central.workflow.gallery). Erasure derives the next
snapshot without them in the same transaction."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central import audit
from central.auth.roles import Permission, roles_for
from central.phones import to_e164
from central.retention import redact_notices
from central.store.evidence import EvidenceStore
from central.store.models import Event, GalleryVersion, Notice, Person, utcnow
from central.store.status import EventStatus
from central.workflow import gallery, photos
from central.workflow.common import Actor, Conflict, NotFound, Rules, require_role
from central.workflow.score import current_score

ENROL_ROLES = roles_for(Permission.person_enrol)
READ_ROLES = roles_for(Permission.person_read)


def enrol(
    session: Session,
    actor: Actor,
    rules: Rules,
    phone: str,
    lawful_basis: str,
    name: str | None = None,
    person_id: str | None = None,
) -> Person:
    require_role(actor, *ENROL_ROLES)
    if not lawful_basis.strip():
        raise ValueError("lawful_basis: required (the legal ground for processing)")
    p = Person(
        id=person_id or str(uuid.uuid4()),
        name=name,
        phone=to_e164(phone, rules.default_region),
        lawful_basis=lawful_basis.strip(),
    )
    session.add(p)
    session.flush()
    audit.record(session, actor.label, "person.enrol", f"person:{p.id}")
    return p


def erase(
    session: Session, actor: Actor, person_id: str, snapshots: EvidenceStore
) -> GalleryVersion | None:
    """Erase personal data; the person leaves the next gallery version (returned; None
    when no stored snapshot holds them) and earlier snapshot files are deleted.

    Fines already issued keep their amounts (a legal obligation) but lose the link to
    name and phone; unreviewed matches become unidentified so nobody confirms them. Their
    sent SMS notices lose text, number and access code (``redact_notices``). Their
    enrolment photos are deleted, rows and bytes (``photos.erase_photos``).
    """
    require_role(actor, *ENROL_ROLES)
    p = session.get(Person, person_id)
    if p is None or p.erased_at is not None:
        raise NotFound(f"person {person_id}: not found")
    p.name = None
    p.phone = None
    p.erased_at = utcnow()
    session.execute(
        sa.update(Event)
        .where(
            Event.match_person_id == person_id,
            # also confirmations awaiting a second reviewer or their undo window
            Event.status.in_(
                (EventStatus.pending_review, EventStatus.second_review, EventStatus.confirming)
            ),
        )
        .values(
            status=EventStatus.unidentified,
            match_person_id=None,
            match_score=None,
            match_alternatives=sa.null(),  # an unidentified violation carries none
        )
    )
    forget_alternative(session, person_id)
    redact_notices(session, Notice.person_id == person_id)
    removed = photos.erase_photos(session, snapshots, person_id)
    gv = gallery.erase_person(session, actor, snapshots, person_id)
    audit.record(
        session,
        actor.label,
        "person.erase",
        f"person:{person_id}",
        {"gallery": gv.version if gv is not None else None, "photos_deleted": len(removed)},
    )
    return gv


def forget_alternative(session: Session, person_id: str) -> int:
    """Take an erased person out of every event's ``match_alternatives`` (the runner-ups
    reviewers are shown); returns how many events changed. The signed messages keep
    the id as the gateway sent it (evidence cannot be edited); no page shows it again."""
    # A prefilter on the JSON text (the id as json.dumps writes it, LIKE wildcards
    # escaped), then the exact test in Python.
    quoted = json.dumps(person_id).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = session.execute(
        sa.select(Event).where(
            Event.match_alternatives.is_not(None),
            sa.cast(Event.match_alternatives, sa.Text).like(f"%{quoted}%", escape="\\"),
        )
    ).scalars()
    changed = 0
    for e in rows:
        kept = [a for a in e.match_alternatives or [] if a.get("person_id") != person_id]
        if len(kept) != len(e.match_alternatives or []):
            e.match_alternatives = kept or None  # none_as_null: SQL NULL
            changed += 1
    session.flush()
    return changed


@dataclass(frozen=True)
class PersonView:
    id: str
    name: str | None
    phone: str | None
    lawful_basis: str
    enrolled: datetime
    erased: bool
    score: int


def read_person(session: Session, actor: Actor, rules: Rules, person_id: str) -> PersonView:
    """Personal data: every read is audited."""
    require_role(actor, *READ_ROLES)
    p = session.get(Person, person_id)
    if p is None:
        raise NotFound(f"person {person_id}: not found")
    audit.record(session, actor.label, "person.read", f"person:{person_id}")
    if p.erased_at is not None:
        raise Conflict(f"person {person_id}: erased")
    return person_view(p, current_score(session, rules, p.id))


def person_view(p: Person, score: int) -> PersonView:
    """``p`` as shown (a new person's ``score`` is ``rules.score.start``)."""
    return PersonView(
        id=p.id,
        name=p.name,
        phone=p.phone,
        lawful_basis=p.lawful_basis,
        enrolled=p.enrolled,
        erased=p.erased_at is not None,
        score=score,
    )
