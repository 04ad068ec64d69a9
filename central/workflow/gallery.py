"""Gallery snapshots: validate an uploaded gallery file, number it, store it, derive the
next snapshot when a person is erased.

Why uploads: embeddings are computed with the edge's face backends (``jaywatch gallery
build``), which central must not import; central only checks and versions the file
(format: ``jaywatch.gallery_file``). Every row of ``gallery_versions`` is one file in the
content-addressed store, named by its sha256 — the hash edges check after download.

Personal data: a snapshot holds face embeddings, so an upload may only name enrolled,
non-erased persons, and an erasure deletes every earlier snapshot file (any of them may
hold the person) once the new one without the person is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central import audit
from central.auth.roles import Permission, roles_for
from central.store.evidence import EvidenceStore, delete_after_commit
from central.store.models import GalleryVersion, Person
from central.workflow.common import Actor, Conflict, NotFound, require_role
from jaywatch.gallery_file import Gallery

UPLOAD_ROLES = roles_for(Permission.gallery_upload)


def latest_snapshot(session: Session) -> GalleryVersion | None:
    """The newest version that still has a file (the one edges should hold)."""
    return session.execute(
        sa.select(GalleryVersion)
        .where(GalleryVersion.snapshot_sha256.is_not(None))
        .order_by(GalleryVersion.version.desc())
        .limit(1)
    ).scalar()


def _store(session: Session, store: EvidenceStore, gallery: Gallery, reason: str) -> GalleryVersion:
    """Number ``gallery`` as the next version, record the row, then store the file.

    The version primary key is the lock: a concurrent upload or erasure that read the same
    latest version takes the same number, and one of the two fails at the flush (Conflict,
    retry) before any file is written, so no unreferenced file with embeddings is left.
    """
    last = session.execute(sa.select(sa.func.max(GalleryVersion.version))).scalar() or 0
    data = gallery.with_version(last + 1).to_bytes()
    sha = hashlib.sha256(data).hexdigest()
    gv = GalleryVersion(
        version=last + 1,
        reason=reason,
        person_ids_sha256=hashlib.sha256("\n".join(sorted(gallery.persons)).encode()).hexdigest(),
        snapshot_sha256=sha,
        download_token=secrets.token_urlsafe(32),
    )
    session.add(gv)
    try:
        session.flush()
    except sa.exc.IntegrityError:
        raise Conflict(
            f"gallery version {last + 1} was taken by a concurrent change: retry"
        ) from None
    if store.put(data) != sha:
        raise RuntimeError("gallery store: name differs from the sha256 of the bytes")
    return gv


def upload(session: Session, actor: Actor, store: EvidenceStore, data: bytes) -> GalleryVersion:
    """Accept a gallery file built by ``jaywatch gallery build`` as the next version.

    Raises:
        ValueError: not a valid gallery file, or it names persons that are not enrolled
            or were erased (all such ids are listed).
    """
    require_role(actor, *UPLOAD_ROLES)
    gallery = Gallery.from_bytes(data, "uploaded gallery")  # GalleryError is a ValueError
    ids = set(gallery.persons)
    enrolled = set(
        session.execute(
            sa.select(Person.id).where(Person.id.in_(ids), Person.erased_at.is_(None))
        ).scalars()
    )
    if unknown := sorted(ids - enrolled):
        raise ValueError(
            f"uploaded gallery: person ids not enrolled or erased: {', '.join(unknown)} "
            "(enrol them first, or rebuild the gallery without them)"
        )
    gv = _store(session, store, gallery, "upload")
    audit.record(
        session,
        actor.label,
        "gallery.upload",
        f"gallery:{gv.version}",
        {"sha256": gv.snapshot_sha256, "persons": len(ids)},
    )
    return gv


def erase_person(
    session: Session, actor: Actor, store: EvidenceStore, person_id: str
) -> GalleryVersion | None:
    """The next snapshot without ``person_id``; None when no stored snapshot holds them.

    Earlier snapshot files are deleted once the caller's transaction commits (edges only ever
    install the newest version, so nothing needs them): the erased person's embeddings
    leave central's store too, not just the next version.
    """
    latest = latest_snapshot(session)
    if latest is None or latest.snapshot_sha256 is None:
        return None
    try:
        current = Gallery.from_bytes(store.get(latest.snapshot_sha256), f"gallery {latest.version}")
    except KeyError:
        raise NotFound(
            f"gallery {latest.version}: file {latest.snapshot_sha256} missing from the store"
        ) from None
    if person_id not in current.persons:
        return None
    gv = _store(session, store, current.without_persons({person_id}, 0), "erase")
    older = session.execute(
        sa.select(GalleryVersion).where(
            GalleryVersion.version < gv.version, GalleryVersion.snapshot_sha256.is_not(None)
        )
    ).scalars()
    deleted, files = [], []
    for old in older:
        files.append(old.snapshot_sha256)
        deleted.append(old.version)
        old.snapshot_sha256 = None
        old.download_token = None
    # Only after the commit: a failed commit brings the rows back, and they need the files.
    delete_after_commit(session, store, files)  # type: ignore[arg-type]
    audit.record(
        session,
        actor.label,
        "gallery.erase",
        f"gallery:{gv.version}",
        {"person": person_id, "sha256": gv.snapshot_sha256, "deleted_versions": deleted},
    )
    return gv


def download(session: Session, store: EvidenceStore, version: int, token: str) -> bytes:
    """The file of ``version`` for a holder of its download token (a device that read the
    announcement); audited, since the file holds face embeddings.

    Raises:
        NotFound: unknown version, wrong token, or the file was deleted by an erasure
            (one answer for all three: nothing to learn by probing).
    """
    gv = session.get(GalleryVersion, version)
    ok = (
        gv is not None
        and gv.download_token is not None
        and gv.snapshot_sha256 is not None
        and hmac.compare_digest(gv.download_token.encode(), token.encode())
    )
    if not ok:
        raise NotFound(f"gallery {version}: not found")
    assert gv is not None and gv.snapshot_sha256 is not None
    try:
        data = store.get(gv.snapshot_sha256)
    except KeyError:
        raise NotFound(f"gallery {version}: not found") from None
    audit.record(session, "device:token", "gallery.download", f"gallery:{version}")
    return data
