"""One evidence read for the API and the console (central/workflow/evidence_read.py):
one audit shape ({"n", "sha256"}), page views audited once and covering only their own
files, for their own user and event, for a limited time; altered bytes refused and
flagged. Face crops of enrolment photos: made at upload, backfilled for older photos,
deleted with the photo and on erasure. SQLite + PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from central.context import Context
from central.evidence.integrity import EvidenceAltered
from central.store.models import AuditEntry, Event, Evidence, PersonPhoto
from central.workflow import evidence_read, persons, photos
from central.workflow.common import NotFound
from tests.central.api.test_api import ingest
from tests.central.helpers import (
    ADMIN,
    AUDITOR,
    OPERATOR,
    REPO,
    SUPERVISOR,
    add_device,
    make_context,
    violation,
)

OBAMA3 = REPO / "sample_media" / "faces" / "photos" / "obama3.jpg"
ROAD = REPO / "sample_media" / "photos" / "vtest_0400.jpg"  # nobody close enough


@pytest.fixture
def ctx(db_url: str, tmp_path: Path) -> Iterator[Context]:
    c = make_context(db_url, tmp_path)
    c.test_key = add_device(c)  # type: ignore[attr-defined]
    yield c
    c.close()


def _event(ctx: Context, person_id: str | None = None) -> str:
    ev = violation(ctx.test_key, images=3, person_id=person_id)  # type: ignore[attr-defined]
    ingest(ctx, ev)
    return ev.event_id


def _reads(ctx: Context, since: int = 0) -> list[tuple[str, str, str, dict]]:
    with ctx.sessions() as s:
        return [
            (e.actor, e.action, e.target, e.details)
            for e in s.execute(
                sa.select(AuditEntry).where(AuditEntry.seq > since).order_by(AuditEntry.seq)
            ).scalars()
        ]


def _shas(ctx: Context, eid: str) -> list[str]:
    with ctx.sessions() as s:
        return list(
            s.execute(
                sa.select(Evidence.sha256).join(Event).where(Event.event_id == eid)
                .order_by(Evidence.position)
            ).scalars()
        )  # fmt: skip


def _last(ctx: Context) -> int:
    with ctx.sessions() as s:
        return s.execute(sa.select(sa.func.coalesce(sa.func.max(AuditEntry.seq), 0))).scalar_one()


def test_page_view_is_one_entry_and_covers_only_its_own_files(ctx: Context) -> None:
    eid, other = _event(ctx), _event(ctx)
    shas = _shas(ctx, eid)
    with ctx.sessions.begin() as s:
        view = evidence_read.open_view(s, OPERATOR, eid)
    start = _last(ctx)
    for n in range(3):
        f = evidence_read.read_evidence(
            ctx.sessions.begin, ctx.evidence, OPERATOR, eid, n, "t", view
        )
        assert f.sha256 == shas[n] and f.media_type == "image/jpeg" and f.data
    assert _reads(ctx, start) == []  # covered by the view
    (entry,) = [r for r in _reads(ctx) if r[1] == "event.read"]
    assert entry[3]["evidence"] == [{"n": n, "sha256": h} for n, h in enumerate(shas)]
    # Not covered: another user, another event, no view, a view too old.
    evidence_read.read_evidence(ctx.sessions.begin, ctx.evidence, SUPERVISOR, eid, 0, "t", view)
    evidence_read.read_evidence(ctx.sessions.begin, ctx.evidence, OPERATOR, other, 0, "t", view)
    evidence_read.read_evidence(ctx.sessions.begin, ctx.evidence, AUDITOR, eid, 1, "api")
    reads = [(a, t, d) for a, act, t, d in _reads(ctx, start) if act == "evidence.read"]
    assert reads == [
        (SUPERVISOR.label, f"event:{eid}", {"n": 0, "sha256": shas[0]}),
        (OPERATOR.label, f"event:{other}", {"n": 0, "sha256": _shas(ctx, other)[0]}),
        (AUDITOR.label, f"event:{eid}", {"n": 1, "sha256": shas[1]}),
    ]


def test_a_view_expires(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    eid = _event(ctx)
    with ctx.sessions.begin() as s:
        view = evidence_read.open_view(s, OPERATOR, eid)
    later = evidence_read.utcnow() + evidence_read.VIEW_TTL + timedelta(seconds=1)
    monkeypatch.setattr(evidence_read, "utcnow", lambda: later)
    start = _last(ctx)
    evidence_read.read_evidence(ctx.sessions.begin, ctx.evidence, OPERATOR, eid, 0, "t", view)
    assert [a for _x, a, _t, _d in _reads(ctx, start)] == ["evidence.read"]


def test_unknown_file_and_altered_bytes(ctx: Context) -> None:
    eid = _event(ctx)
    with pytest.raises(NotFound):
        evidence_read.read_evidence(ctx.sessions.begin, ctx.evidence, OPERATOR, eid, 9, "t")
    with pytest.raises(NotFound):
        evidence_read.read_evidence(ctx.sessions.begin, ctx.evidence, OPERATOR, "nope", 0, "t")
    sha = _shas(ctx, eid)[1]
    path = Path(ctx.config.evidence_dir) / sha[:2] / sha[2:4] / sha
    path.chmod(0o600)
    path.write_bytes(b"\xff\xd8 not what the gateway signed")
    with pytest.raises(EvidenceAltered):
        evidence_read.read_evidence(ctx.sessions.begin, ctx.evidence, OPERATOR, eid, 1, "t")
    with ctx.sessions() as s:
        e = s.execute(sa.select(Event).where(Event.event_id == eid)).scalar_one()
        assert e.evidence_altered_at is not None
    assert any(a == "evidence.altered" for _x, a, _t, _d in _reads(ctx))


def test_face_crop_at_upload_backfill_and_erasure(ctx: Context) -> None:
    with ctx.sessions.begin() as s:
        p = persons.enrol(s, ADMIN, ctx.rules, "+447911123456", "test")
        rows = photos.add_photos(
            s, ADMIN, ctx.evidence, p.id,
            [("obama3.jpg", OBAMA3.read_bytes()), ("road.jpg", ROAD.read_bytes())],
        )  # fmt: skip
        got = [(r.face_status, r.face_sha256 is not None) for r in rows]
        face_sha = rows[0].face_sha256
        # A photo stored before the crops existed.
        rows[0].face_status, rows[0].face_sha256, rows[0].face_box = None, None, None
    assert got == [("found", True), ("none", False)]
    assert ctx.evidence.exists(face_sha)
    with ctx.sessions.begin() as s:
        assert photos.backfill_faces(s, ctx.evidence) == (1, 1, 0)
        assert photos.backfill_faces(s, ctx.evidence) == (0, 0, 0)  # nothing left
    with ctx.sessions() as s:
        row = s.execute(
            sa.select(PersonPhoto).where(PersonPhoto.sha256 == rows[0].sha256)
        ).scalar_one()
        assert row.face_sha256 == face_sha and len(row.face_box) == 4
    # Shown for a matched event, audited like the photo; covered by the page's view.
    eid = _event(ctx, person_id=p.id)
    with ctx.sessions.begin() as s:
        shown = photos.photos_for_event(s, OPERATOR, eid)
        view = evidence_read.open_view(s, OPERATOR, eid, shown)
    start = _last(ctx)
    with ctx.sessions.begin() as s:
        assert photos.read_event_face(s, OPERATOR, ctx.evidence, eid, 0, view)[:2] == b"\xff\xd8"
        with pytest.raises(NotFound, match="no face found"):
            photos.read_event_face(s, OPERATOR, ctx.evidence, eid, 1, view)
    assert _reads(ctx, start) == []
    with ctx.sessions.begin() as s:
        photos.read_event_face(s, OPERATOR, ctx.evidence, eid, 0)  # no view: audited
    assert [a for _x, a, _t, d in _reads(ctx, start)] == ["person.photo_read"]
    # Erasure deletes the crop's bytes too.
    with ctx.sessions.begin() as s:
        persons.erase(s, ADMIN, p.id, ctx.evidence)
    assert not ctx.evidence.exists(face_sha)
