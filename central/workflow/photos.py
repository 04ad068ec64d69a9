"""Enrolment (reference) photos of persons: added by a supervisor or admin, shown to the
people who review a match beside the captured face (principle 1: the person who decides
can compare the two), removed one at a time by a supervisor or admin (a wrong photo), and
deleted with the person on erasure.

The bytes go into the content-addressed evidence store (name = sha256, as evidence and
gallery snapshots); a ``person_photos`` row links them to the person. Retention purges
nothing here: a photo lasts as long as the enrolment, and erasure ends both.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass

import sqlalchemy as sa
from PIL import Image
from sqlalchemy.orm import Session

from central import audit
from central.auth.roles import Permission, roles_for
from central.faces.crop import crop_face
from central.faces.detect import FaceModelError
from central.store.evidence import EvidenceStore, delete_after_commit
from central.store.models import Event, Evidence, Person, PersonPhoto
from central.workflow.common import Actor, Conflict, NotFound, require_role
from central.workflow.evidence_read import covered

ADD_ROLES = roles_for(Permission.photo_add)
VIEW_ROLES = roles_for(Permission.photo_view)
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTO_PIXELS = 40_000_000  # a 40 MP camera; beyond that is a mistake or a bomb
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}
FACE_FOUND, FACE_NONE = "found", "none"  # PersonPhoto.face_status (None: not tried yet)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhotoInfo:
    """What validation learned about one file."""

    name: str
    data: bytes
    media_type: str
    width: int
    height: int


def validate_photo(name: str, data: bytes) -> PhotoInfo:
    """A JPEG or PNG that decodes completely, at most ``MAX_PHOTO_BYTES``.

    Raises:
        ValueError: naming ``name`` and what was expected.
    """
    if not data:
        raise ValueError(f"{name}: empty file (expected a JPEG or PNG photo)")
    if len(data) > MAX_PHOTO_BYTES:
        raise ValueError(
            f"{name}: {len(data)} bytes, larger than the limit of {MAX_PHOTO_BYTES} bytes"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or "?"
                if fmt not in MEDIA_TYPES:
                    raise ValueError(f"{name}: a {fmt} image; expected a JPEG or PNG photo")
                w, h = img.size
                if w * h > MAX_PHOTO_PIXELS:
                    raise ValueError(
                        f"{name}: {w}x{h} pixels, more than {MAX_PHOTO_PIXELS} (expected a photo)"
                    )
                img.load()  # decode every pixel: a truncated or corrupt file fails here
    except ValueError:
        raise
    except (OSError, SyntaxError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        # PIL raises UnidentifiedImageError (an OSError) for non-images, OSError for
        # truncated data and SyntaxError for some corrupt PNGs.
        raise ValueError(f"{name}: not a readable image (expected a JPEG or PNG photo)") from None
    return PhotoInfo(name=name, data=data, media_type=MEDIA_TYPES[fmt], width=w, height=h)


def _live_person(session: Session, person_id: str) -> Person:
    p = session.get(Person, person_id)
    if p is None:
        raise NotFound(f"person {person_id}: not found")
    if p.erased_at is not None:
        raise Conflict(f"person {person_id}: erased")
    return p


def add_photos(
    session: Session,
    actor: Actor,
    store: EvidenceStore,
    person_id: str,
    files: list[tuple[str, bytes]],
) -> list[PersonPhoto]:
    """Validate every ``(name, bytes)`` first, then store them all (none if one is bad).

    A photo the person already has is not stored twice: its existing row is returned.

    Raises:
        ValueError: the first bad file, by name. NotFound / Conflict: unknown or erased
            person. Forbidden: not a supervisor or admin.
    """
    require_role(actor, *ADD_ROLES)
    if not files:
        raise ValueError("photos: at least one file expected")
    infos = [validate_photo(name, data) for name, data in files]
    _live_person(session, person_id)
    out: list[PersonPhoto] = []
    for info in infos:
        sha = store.put(info.data)
        row = session.execute(
            sa.select(PersonPhoto).where(
                PersonPhoto.person_id == person_id, PersonPhoto.sha256 == sha
            )
        ).scalar()
        if row is None:
            row = PersonPhoto(
                person_id=person_id,
                sha256=sha,
                size=len(info.data),
                media_type=info.media_type,
                width=info.width,
                height=info.height,
                added_by=actor.label,
            )
            session.add(row)
            session.flush()
            ensure_face(store, row, info.data)
            audit.record(
                session,
                actor.label,
                "person.photo_add",
                f"person:{person_id}",
                {
                    "photo": row.id,
                    "sha256": sha,
                    "size": row.size,
                    "file": info.name,
                    "face": row.face_status,
                    "face_sha256": row.face_sha256,
                },
            )
        out.append(row)
    return out


def ensure_face(store: EvidenceStore, row: PersonPhoto, data: bytes | None = None) -> bool:
    """Crop the photo to its face (central/faces/crop.py) unless done already; stores the
    crop beside the original and fills the row's ``face_*`` columns. Returns whether the
    row changed. A detector that cannot run (model file missing) leaves the row untried
    (``face_status`` None: the next view or `central person photo crop` tries again)
    and never fails the upload or the page."""
    if row.face_status is not None:
        return False
    try:
        crop = crop_face(data if data is not None else store.get(row.sha256))
    except (FaceModelError, KeyError, ValueError) as e:
        log.warning("photo %s of person %s: no face crop: %s", row.id, row.person_id, e)
        return False
    if crop is None:
        row.face_status = FACE_NONE
    else:
        row.face_sha256 = store.put(crop.jpeg)
        row.face_box = crop.box
        row.face_status = FACE_FOUND
    return True


def backfill_faces(session: Session, store: EvidenceStore) -> tuple[int, int, int]:
    """Crop every photo not tried yet (photos stored before crops existed); returns
    (tried, faces found, no face). Audited as one ``person.photo_crop`` entry."""
    rows = list(
        session.execute(sa.select(PersonPhoto).where(PersonPhoto.face_status.is_(None))).scalars()
    )
    done = [r for r in rows if ensure_face(store, r)]
    found = sum(r.face_status == FACE_FOUND for r in done)
    if done:
        audit.record(
            session,
            "system",
            "person.photo_crop",
            "person_photos",
            {"photos": [{"photo": r.id, "face_sha256": r.face_sha256} for r in done]},
        )
    return len(done), found, len(done) - found


def list_photos(session: Session, person_id: str) -> list[PersonPhoto]:
    """The person's photos, oldest first (metadata only: no bytes, not audited).

    Raises:
        NotFound: unknown person (an erased one is known: their list is empty).
    """
    if session.get(Person, person_id) is None:
        raise NotFound(f"person {person_id}: not found")
    return _photos_of(session, person_id)


def _photos_of(session: Session, person_id: str) -> list[PersonPhoto]:
    return list(
        session.execute(
            sa.select(PersonPhoto)
            .where(PersonPhoto.person_id == person_id)
            .order_by(PersonPhoto.id)
        ).scalars()
    )


def photos_for_event(session: Session, actor: Actor, event_id: str) -> list[PersonPhoto]:
    """Enrolment photos of the person an event was matched to; [] when it has no match
    (unidentified) or the person's photos are gone. Reviewers only."""
    require_role(actor, *VIEW_ROLES)
    pid = session.execute(
        sa.select(Event.match_person_id).where(Event.event_id == event_id)
    ).scalar()
    return [] if pid is None else _photos_of(session, pid)


@dataclass(frozen=True)
class Alternative:
    """One runner-up of an event's match as the reviewer sees it (issue 17)."""

    person_id: str
    score: float
    photo: PersonPhoto | None  # the one enrolment photo shown for it (None: none stored)


def alternatives_for_event(session: Session, event_id: str) -> list[Alternative]:
    """The runner-ups stored with an event's match (``events.match_alternatives``), best
    first, each with one enrolment photo: its first with a face found, else its first.
    [] for an event without a match (an unidentified violation never has any) and for
    persons erased since. Callers check the role (ids: whoever sees the match; photos:
    ``VIEW_ROLES``)."""
    row = session.execute(
        sa.select(Event.match_person_id, Event.match_alternatives).where(Event.event_id == event_id)
    ).first()
    if row is None or row[0] is None or not isinstance(row[1], list):
        return []
    wanted = [a for a in row[1] if isinstance(a, dict) and isinstance(a.get("person_id"), str)]
    live = set(
        session.execute(
            sa.select(Person.id).where(
                Person.id.in_([a["person_id"] for a in wanted]), Person.erased_at.is_(None)
            )
        ).scalars()
    )
    out = []
    for a in wanted:
        pid = a["person_id"]
        if pid not in live or pid == row[0]:
            continue
        shots = _photos_of(session, pid)
        photo = next((p for p in shots if p.face_status == FACE_FOUND), shots[0] if shots else None)
        out.append(Alternative(pid, float(a.get("score", float("nan"))), photo))
    return out


def read_alternative_photo(
    session: Session,
    actor: Actor,
    store: EvidenceStore,
    event_id: str,
    n: int,
    view: int | None = None,
) -> tuple[bytes, str]:
    """The enrolment photo shown for runner-up ``n`` of an event's match: its face crop
    (framed like the captured face) when one was found, else the whole photo; audited
    like every enrolment photo (``person.photo_read``) unless page view ``view`` listed
    it (``open_view``'s ``alternatives``). Reachable only through such an event.

    Raises:
        Forbidden: not a role that sees enrolment photos. NotFound: no runner-up ``n``,
            or it has no photo.
    """
    require_role(actor, *VIEW_ROLES)
    alts = alternatives_for_event(session, event_id)
    if not 0 <= n < len(alts) or alts[n].photo is None:
        raise NotFound(f"event {event_id}: no photo of alternative {n}")
    p = alts[n].photo
    assert p is not None
    ensure_face(store, p)
    face = p.face_status == FACE_FOUND and p.face_sha256 is not None
    if not covered(session, actor, event_id, view, "alternatives", n, p.sha256):
        audit.record(
            session,
            actor.label,
            "person.photo_read",
            f"person:{p.person_id}",
            {"event": event_id, "photo": p.id, "sha256": p.sha256, "alternative": n},
        )
    sha = p.face_sha256 if face else p.sha256
    try:
        return store.get(sha), "image/jpeg" if face else p.media_type  # type: ignore[arg-type]
    except KeyError:
        raise NotFound(f"enrolment photo {sha}: missing from the store") from None


def read_event_photo(
    session: Session,
    actor: Actor,
    store: EvidenceStore,
    event_id: str,
    n: int,
    view: int | None = None,
) -> tuple[bytes, str]:
    """Bytes and media type of photo ``n`` of the event's matched person; audited like
    every read of evidence (``person.photo_read``) unless page view ``view`` listed it
    (``evidence_read.open_view``)."""
    photos = photos_for_event(session, actor, event_id)
    if not 0 <= n < len(photos):
        raise NotFound(f"event {event_id}: no enrolment photo {n}")
    p = photos[n]
    if not covered(session, actor, event_id, view, "photos", n, p.sha256):
        audit.record(
            session,
            actor.label,
            "person.photo_read",
            f"person:{p.person_id}",
            {"event": event_id, "photo": p.id, "sha256": p.sha256},
        )
    try:
        return store.get(p.sha256), p.media_type
    except KeyError:
        raise NotFound(f"enrolment photo {p.sha256}: missing from the store") from None


def read_event_face(
    session: Session,
    actor: Actor,
    store: EvidenceStore,
    event_id: str,
    n: int,
    view: int | None = None,
) -> bytes:
    """The face crop (JPEG) of photo ``n`` of the event's matched person, cropped now if
    the photo is older than the crops; audited like the photo itself.

    Raises:
        NotFound: no photo ``n``, or no face was found in it (show the photo instead).
    """
    photos = photos_for_event(session, actor, event_id)
    if not 0 <= n < len(photos):
        raise NotFound(f"event {event_id}: no enrolment photo {n}")
    p = photos[n]
    ensure_face(store, p)
    if p.face_status != FACE_FOUND or p.face_sha256 is None:
        raise NotFound(f"enrolment photo {p.id}: no face found in it")
    if not covered(session, actor, event_id, view, "photos", n, p.sha256):
        audit.record(
            session,
            actor.label,
            "person.photo_read",
            f"person:{p.person_id}",
            {"event": event_id, "photo": p.id, "sha256": p.sha256, "face": True},
        )
    try:
        return store.get(p.face_sha256)
    except KeyError:
        raise NotFound(f"face crop {p.face_sha256}: missing from the store") from None


def remove_photo(
    session: Session, actor: Actor, store: EvidenceStore, person_id: str, photo_id: int
) -> PersonPhoto:
    """Delete one enrolment photo of the person (e.g. a wrong one) and, like
    ``erase_photos``, its bytes unless evidence or another photo row still references
    them. Audited as ``person.photo_remove``; returns the deleted row (detached).

    Raises:
        Forbidden: not a supervisor or admin. NotFound: unknown person, or no photo
            ``photo_id`` of this person (also when it belongs to someone else).
    """
    require_role(actor, *ADD_ROLES)
    if session.get(Person, person_id) is None:
        raise NotFound(f"person {person_id}: not found")
    row = session.get(PersonPhoto, photo_id)
    if row is None or row.person_id != person_id:
        # Another person's photo id is "not found" here: the path names this person.
        raise NotFound(f"person {person_id}: no photo {photo_id}")
    sha = row.sha256
    shas = [sha, row.face_sha256] if row.face_sha256 else [sha]
    session.delete(row)
    session.flush()
    deleted = _delete_unreferenced(session, store, shas)
    audit.record(
        session,
        actor.label,
        "person.photo_remove",
        f"person:{person_id}",
        {"photo": photo_id, "sha256": sha, "bytes_deleted": sha in deleted},
    )
    return row


def _delete_unreferenced(session: Session, store: EvidenceStore, shas: list[str]) -> set[str]:
    """Delete, once the caller's transaction commits, the blobs among ``shas`` that no
    evidence or photo row references (after the caller's rows were deleted and flushed);
    returns those to be deleted."""
    still = (
        set(session.execute(sa.select(Evidence.sha256).where(Evidence.sha256.in_(shas))).scalars())
        | set(
            session.execute(
                sa.select(PersonPhoto.sha256).where(PersonPhoto.sha256.in_(shas))
            ).scalars()
        )
        | set(
            session.execute(
                sa.select(PersonPhoto.face_sha256).where(PersonPhoto.face_sha256.in_(shas))
            ).scalars()
        )
        | set(
            session.execute(
                sa.select(Event.message_sha256).where(Event.message_sha256.in_(shas))
            ).scalars()
        )
    )
    gone = set(shas) - still
    delete_after_commit(session, store, sorted(gone))
    return gone


def erase_photos(session: Session, store: EvidenceStore, person_id: str) -> list[str]:
    """Delete the person's photo rows and then every blob nothing else references (the
    store is content-addressed: an evidence image or another person's photo may share
    the bytes). The rows go in the erasure's transaction, the bytes only after it
    commits (like the gallery snapshot deletion); returns the sha256 of the photos removed."""
    rows = _photos_of(session, person_id)
    shas = [p.sha256 for p in rows]
    if not shas:
        return []
    faces = [p.face_sha256 for p in rows if p.face_sha256]
    session.execute(sa.delete(PersonPhoto).where(PersonPhoto.person_id == person_id))
    session.flush()
    _delete_unreferenced(session, store, shas + faces)
    return shas
