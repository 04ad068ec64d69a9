"""Enrolment photos: added and removed one by one by CLI and API (supervisor/admin, CSRF),
validated (a named error for each bad file, nothing stored), deleted with the person on
erasure (rows and bytes unless shared), and never purged by retention while the enrolment
lasts. SQLite + PostgreSQL."""

from __future__ import annotations

import getpass
import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image

from central.api.app import create_app
from central.auth.roles import STAFF as ROLES
from central.config import ApiSettings, RetentionSettings
from central.context import Context
from central.retention import delete_orphan_blobs, purge
from central.store.models import AuditEntry, Event, PersonPhoto
from central.workflow import persons, photos
from central.workflow.common import SYSTEM, Conflict, Forbidden, NotFound
from central.workflow.users import create_user
from jaywatch_app.cli import main
from tests.central.api.test_api import PASSWORD, ingest, token
from tests.central.helpers import (
    ADMIN,
    AUDITOR,
    OPERATOR,
    REPO,
    SUPERVISOR,
    add_device,
    make_context,
    roomy_limits,
    violation,
)

PHOTOS = REPO / "sample_media" / "photos"
OBAMA3 = PHOTOS / "obama3.jpg"
BIDEN = PHOTOS / "biden.jpg"
ASTRONAUT = PHOTOS / "astronaut.jpg"


@pytest.fixture
def ctx(db_url: str, tmp_path: Path) -> Iterator[Context]:
    c = make_context(
        db_url,
        tmp_path,
        api=ApiSettings(secure_cookies=False),
        http=roomy_limits(),
    )
    with c.sessions.begin() as s:
        for role in ROLES:
            create_user(s, SYSTEM, role, PASSWORD, role)
    yield c
    c.close()


def enrol(ctx: Context) -> str:
    with ctx.sessions.begin() as s:
        return persons.enrol(s, ADMIN, ctx.rules, "+447400123456", "statute", name="P").id


def png_of(path: Path) -> bytes:
    buf = io.BytesIO()
    Image.open(path).convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def rows(ctx: Context, person_id: str) -> list[PersonPhoto]:
    with ctx.sessions() as s:
        return photos.list_photos(s, person_id)


def blob_exists(ctx: Context, sha: str) -> bool:
    return ctx.evidence.exists(sha)


# --- validation --------------------------------------------------------------------------


def test_validate_accepts_real_jpeg_and_png() -> None:
    j = photos.validate_photo("obama3.jpg", OBAMA3.read_bytes())
    with Image.open(OBAMA3) as im:
        assert (j.media_type, j.width, j.height) == ("image/jpeg", *im.size)
    p = photos.validate_photo("biden.png", png_of(BIDEN))
    assert p.media_type == "image/png" and p.width > 0


@pytest.mark.parametrize(
    ("name", "make", "expect"),
    [
        ("notes.txt", lambda: b"this is not a photo\n", "notes.txt: not a readable image"),
        ("empty.jpg", lambda: b"", "empty.jpg: empty file"),
        ("cut.jpg", lambda: OBAMA3.read_bytes()[:3000], "cut.jpg: not a readable image"),
        ("anim.gif", lambda: _gif(), "anim.gif: a GIF image; expected a JPEG or PNG"),
        ("huge.jpg", lambda: b"\xff" * (photos.MAX_PHOTO_BYTES + 1), "huge.jpg: 10485761 bytes"),
    ],
)
def test_validate_names_the_bad_file(name: str, make, expect: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=expect):
        photos.validate_photo(name, make())


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.open(BIDEN).convert("P").save(buf, "GIF")
    return buf.getvalue()


# --- workflow ----------------------------------------------------------------------------


def test_add_is_all_or_nothing_idempotent_and_audited(ctx: Context) -> None:
    pid = enrol(ctx)
    good, bad = OBAMA3.read_bytes(), b"%PDF-1.4 not a photo"
    with (
        pytest.raises(ValueError, match=r"statement\.pdf: not a readable image"),
        ctx.sessions.begin() as s,
    ):
        photos.add_photos(
            s, SUPERVISOR, ctx.evidence, pid, [("obama3.jpg", good), ("statement.pdf", bad)]
        )
    assert rows(ctx, pid) == []
    assert not blob_exists(ctx, hashlib.sha256(good).hexdigest())  # validated before storing

    with ctx.sessions.begin() as s:
        added = photos.add_photos(s, SUPERVISOR, ctx.evidence, pid, [("obama3.jpg", good)])
        again = photos.add_photos(s, ADMIN, ctx.evidence, pid, [("copy.jpg", good)])
        assert again[0].id == added[0].id  # the same bytes twice: one row
    (r,) = rows(ctx, pid)
    assert r.sha256 == hashlib.sha256(good).hexdigest() and r.size == len(good)
    assert ctx.evidence.get(r.sha256) == good and r.added_by == SUPERVISOR.label
    with ctx.sessions() as s:
        actions = s.execute(
            sa.select(AuditEntry.action).where(AuditEntry.action == "person.photo_add")
        ).all()
    assert len(actions) == 1


def test_add_refuses_operator_unknown_and_erased_person(ctx: Context) -> None:
    pid = enrol(ctx)
    files = [("obama3.jpg", OBAMA3.read_bytes())]
    with ctx.sessions.begin() as s, pytest.raises(Forbidden):
        photos.add_photos(s, OPERATOR, ctx.evidence, pid, files)
    with ctx.sessions.begin() as s, pytest.raises(NotFound, match="person nobody"):
        photos.add_photos(s, ADMIN, ctx.evidence, "nobody", files)
    with ctx.sessions.begin() as s:
        persons.erase(s, ADMIN, pid, ctx.evidence)
    with ctx.sessions.begin() as s, pytest.raises(Conflict, match="erased"):
        photos.add_photos(s, ADMIN, ctx.evidence, pid, files)


# --- erasure and retention ---------------------------------------------------------------


def test_erasure_deletes_rows_and_bytes_but_not_shared_evidence(ctx: Context) -> None:
    key = add_device(ctx)
    pid, other = enrol(ctx), enrol(ctx)
    mine, shared = OBAMA3.read_bytes(), png_of(BIDEN)
    with ctx.sessions.begin() as s:
        photos.add_photos(s, ADMIN, ctx.evidence, pid, [("a.jpg", mine), ("b.png", shared)])
        photos.add_photos(s, ADMIN, ctx.evidence, other, [("b.png", shared)])
    ingest(ctx, violation(key, person_id=pid))
    sha_mine, sha_shared = (hashlib.sha256(d).hexdigest() for d in (mine, shared))
    assert blob_exists(ctx, sha_mine) and blob_exists(ctx, sha_shared)

    with ctx.sessions.begin() as s:
        persons.erase(s, ADMIN, pid, ctx.evidence)
    assert rows(ctx, pid) == []
    assert not blob_exists(ctx, sha_mine)
    assert blob_exists(ctx, sha_shared)  # the other person's photo still needs the bytes
    assert [r.sha256 for r in rows(ctx, other)] == [sha_shared]
    with ctx.sessions() as s:
        details = s.execute(
            sa.select(AuditEntry.details).where(AuditEntry.action == "person.erase")
        ).scalar_one()
        assert details["photos_deleted"] == 2
        ev = s.execute(sa.select(Event)).scalar_one()
        assert ev.match_person_id is None  # nothing left to show beside it anyway

    with ctx.sessions.begin() as s:
        persons.erase(s, ADMIN, other, ctx.evidence)
    assert rows(ctx, other) == [] and not blob_exists(ctx, sha_shared)


def test_retention_never_deletes_a_photo_blob(ctx: Context) -> None:
    """A photo that shares its bytes with purged evidence survives the purge."""
    key = add_device(ctx)
    pid = enrol(ctx)
    # Recent (an event 400 days old on arrival is quarantined instead): retention counts
    # from receipt, so the purge below runs 400 days later.
    ev = violation(key)
    ingest(ctx, ev)
    with ctx.sessions() as s:
        sha = s.execute(sa.text("SELECT sha256 FROM evidence")).scalar_one()
    data = ctx.evidence.get(sha)  # a real (tiny) JPEG: the evidence image itself
    with ctx.sessions.begin() as s:
        photos.add_photos(s, ADMIN, ctx.evidence, pid, [("crop.jpg", data)])
    later = datetime.now(UTC) + timedelta(days=400)  # retention counts from receipt
    with ctx.sessions.begin() as s:
        res = purge(s, RetentionSettings(), now=later)
    # The image and the kept signed message (which carries the image inline) are candidates;
    # only the message goes, the photo keeps the image's bytes.
    assert res.counts["unidentified_events"] == 1 and sha in res.blob_candidates
    assert len(res.blob_candidates) == 2
    assert delete_orphan_blobs(ctx.sessions, ctx.evidence, res.blob_candidates) == 1
    with ctx.sessions() as s:
        assert s.execute(sa.text("SELECT count(*) FROM evidence")).scalar_one() == 0
    assert [r.sha256 for r in rows(ctx, pid)] == [sha] and ctx.evidence.get(sha) == data


# --- CLI ---------------------------------------------------------------------------------


def _config(tmp_path: Path, db_url: str) -> Path:
    cfg = tmp_path / "central.yaml"
    cfg.write_text(
        f"database_url: {db_url}\nevidence_dir: {tmp_path / 'evidence'}\n"
        f"fines_file: {REPO / 'config' / 'fines.yaml'}\n"
    )
    return cfg


def test_cli_add_list_and_named_errors(
    ctx: Context, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pid = enrol(ctx)
    cfg = str(_config(tmp_path, db_url))
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")

    rc = main(["central", "--config", cfg, "person", "photo", "add", pid, str(OBAMA3), str(notes)])
    err = capsys.readouterr().err
    assert rc == 2 and f"{notes}: not a readable image" in err and "nothing stored" in err
    assert rows(ctx, pid) == []

    missing = tmp_path / "gone.jpg"
    rc = main(["central", "--config", cfg, "person", "photo", "add", pid, str(missing)])
    assert rc == 2 and f"cannot read photo {missing}" in capsys.readouterr().err

    rc = main(["central", "--config", cfg, "person", "photo", "add", "nobody", str(OBAMA3)])
    assert rc == 2 and "person nobody: not found" in capsys.readouterr().err

    biden_png = tmp_path / "biden.png"
    biden_png.write_bytes(png_of(BIDEN))
    rc = main(
        ["central", "--config", cfg, "person", "photo", "add", pid, str(OBAMA3), str(biden_png)]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "image/jpeg" in out and "image/png" in out
    got = rows(ctx, pid)
    assert [r.media_type for r in got] == ["image/jpeg", "image/png"]
    assert got[0].added_by == f"cli:{getpass.getuser()}"
    assert ctx.evidence.get(got[0].sha256) == OBAMA3.read_bytes()

    rc = main(["central", "--config", cfg, "person", "photo", "list", pid])
    out = capsys.readouterr().out
    assert rc == 0 and got[0].sha256 in out and got[1].sha256 in out


# --- API ---------------------------------------------------------------------------------


@pytest.fixture
def client(ctx: Context) -> TestClient:
    return TestClient(create_app(ctx))


def test_api_add_roles_validation_and_list(ctx: Context, client: TestClient) -> None:
    pid = enrol(ctx)
    url = f"/api/persons/{pid}/photos"
    jpg = ("files", ("obama3.jpg", OBAMA3.read_bytes(), "image/jpeg"))
    for role in ("operator", "auditor"):
        r = client.post(url, files=[jpg], headers=token(client, role))
        assert r.status_code == 403, (role, r.text)
    assert rows(ctx, pid) == []

    sup = token(client, "supervisor")
    bad = ("files", ("statement.txt", b"I was not there", "text/plain"))
    r = client.post(url, files=[jpg, bad], headers=sup)
    assert r.status_code == 422 and "statement.txt: not a readable image" in r.json()["detail"]
    assert rows(ctx, pid) == []

    r = client.post(url, files=[jpg, ("files", ("b.png", png_of(BIDEN), "image/png"))], headers=sup)
    assert r.status_code == 201, r.text
    body = r.json()
    assert [p["media_type"] for p in body] == ["image/jpeg", "image/png"]
    assert body[0]["sha256"] == hashlib.sha256(OBAMA3.read_bytes()).hexdigest()

    r = client.get(url, headers=token(client, "admin"))
    assert r.status_code == 200 and [p["id"] for p in r.json()] == [p["id"] for p in body]
    assert client.get(url, headers=token(client, "operator")).status_code == 403
    assert client.get("/api/persons/nobody/photos", headers=sup).status_code == 404
    r = client.post("/api/persons/nobody/photos", files=[jpg], headers=sup)
    assert r.status_code == 404


def test_api_cookie_session_needs_csrf(ctx: Context, client: TestClient) -> None:
    pid = enrol(ctx)
    r = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
    csrf = r.json()["csrf_token"]  # the session cookie is now set on the client
    jpg = ("files", ("obama3.jpg", OBAMA3.read_bytes(), "image/jpeg"))
    r = client.post(f"/api/persons/{pid}/photos", files=[jpg])
    assert r.status_code == 403 and "CSRF" in r.text
    assert rows(ctx, pid) == []
    r = client.post(f"/api/persons/{pid}/photos", files=[jpg], headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    assert len(rows(ctx, pid)) == 1


# --- removing one photo ------------------------------------------------------------------


def _remove_audits(ctx: Context) -> list[tuple[str, str, dict]]:
    with ctx.sessions() as s:
        return [
            tuple(r)
            for r in s.execute(
                sa.select(AuditEntry.actor, AuditEntry.target, AuditEntry.details)
                .where(AuditEntry.action == "person.photo_remove")
                .order_by(AuditEntry.seq)
            )
        ]


def test_remove_deletes_row_and_unshared_bytes_and_is_audited(ctx: Context) -> None:
    key = add_device(ctx)
    pid, other = enrol(ctx), enrol(ctx)
    mine, shared = OBAMA3.read_bytes(), png_of(BIDEN)
    ingest(ctx, violation(key))
    with ctx.sessions() as s:
        ev_sha = s.execute(sa.text("SELECT sha256 FROM evidence")).scalar_one()
    ev_data = ctx.evidence.get(ev_sha)
    with ctx.sessions.begin() as s:
        a, b, c = (
            r.id
            for r in photos.add_photos(
                s,
                SUPERVISOR,
                ctx.evidence,
                pid,
                [("a.jpg", mine), ("b.png", shared), ("c.jpg", ev_data)],
            )
        )
        photos.add_photos(s, ADMIN, ctx.evidence, other, [("b.png", shared)])
    sha_mine, sha_shared = (hashlib.sha256(d).hexdigest() for d in (mine, shared))

    with ctx.sessions.begin() as s:
        gone = photos.remove_photo(s, SUPERVISOR, ctx.evidence, pid, a)
        assert (gone.id, gone.sha256) == (a, sha_mine)
    assert [r.id for r in rows(ctx, pid)] == [b, c]
    assert not blob_exists(ctx, sha_mine)  # nothing else referenced these bytes

    with ctx.sessions.begin() as s:
        photos.remove_photo(s, ADMIN, ctx.evidence, pid, b)
        photos.remove_photo(s, ADMIN, ctx.evidence, pid, c)
    assert rows(ctx, pid) == []
    assert blob_exists(ctx, sha_shared)  # the other person's photo still needs them
    assert [r.sha256 for r in rows(ctx, other)] == [sha_shared]
    assert ctx.evidence.get(ev_sha) == ev_data  # the evidence image still needs them

    assert _remove_audits(ctx) == [
        (
            SUPERVISOR.label,
            f"person:{pid}",
            {"photo": a, "sha256": sha_mine, "bytes_deleted": True},
        ),
        (ADMIN.label, f"person:{pid}", {"photo": b, "sha256": sha_shared, "bytes_deleted": False}),
        (ADMIN.label, f"person:{pid}", {"photo": c, "sha256": ev_sha, "bytes_deleted": False}),
    ]


def test_remove_refuses_operator_auditor_and_unknown_or_foreign_photo(ctx: Context) -> None:
    pid, other = enrol(ctx), enrol(ctx)
    with ctx.sessions.begin() as s:
        (mine,) = photos.add_photos(s, ADMIN, ctx.evidence, pid, [("a.jpg", OBAMA3.read_bytes())])
        (theirs,) = photos.add_photos(s, ADMIN, ctx.evidence, other, [("b.png", png_of(BIDEN))])
        mine_id, theirs_id = mine.id, theirs.id
    for actor in (OPERATOR, AUDITOR):
        with ctx.sessions.begin() as s, pytest.raises(Forbidden):
            photos.remove_photo(s, actor, ctx.evidence, pid, mine_id)
    with ctx.sessions.begin() as s, pytest.raises(NotFound, match="person nobody: not found"):
        photos.remove_photo(s, ADMIN, ctx.evidence, "nobody", mine_id)
    with ctx.sessions.begin() as s, pytest.raises(NotFound, match=f"person {pid}: no photo 999"):
        photos.remove_photo(s, ADMIN, ctx.evidence, pid, 999)
    with (
        ctx.sessions.begin() as s,
        pytest.raises(NotFound, match=f"person {pid}: no photo {theirs_id}"),
    ):
        photos.remove_photo(s, ADMIN, ctx.evidence, pid, theirs_id)
    assert [r.id for r in rows(ctx, pid)] == [mine_id]
    assert [r.id for r in rows(ctx, other)] == [theirs_id]
    assert blob_exists(ctx, mine.sha256) and blob_exists(ctx, theirs.sha256)
    assert _remove_audits(ctx) == []


def test_cli_remove_by_id_or_sha256_and_named_errors(
    ctx: Context, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pid, other = enrol(ctx), enrol(ctx)
    with ctx.sessions.begin() as s:
        a, b = (
            (r.id, r.sha256)
            for r in photos.add_photos(
                s,
                ADMIN,
                ctx.evidence,
                pid,
                [("a.jpg", OBAMA3.read_bytes()), ("b.png", png_of(BIDEN))],
            )
        )
        (theirs,) = photos.add_photos(
            s, ADMIN, ctx.evidence, other, [("c.jpg", ASTRONAUT.read_bytes())]
        )
        theirs_id = theirs.id
    cfg = str(_config(tmp_path, db_url))
    base = ["central", "--config", cfg, "person", "photo", "remove"]

    rc = main([*base, pid, str(a[0])])
    out = capsys.readouterr().out
    assert rc == 0 and f"removed photo {a[0]} of person {pid} (sha256 {a[1]})" in out
    assert not blob_exists(ctx, a[1])
    rc = main([*base, pid, b[1].upper()])  # the sha256 works too, in either case
    assert rc == 0 and f"removed photo {b[0]}" in capsys.readouterr().out
    assert rows(ctx, pid) == [] and not blob_exists(ctx, b[1])
    assert [d["photo"] for _a, _t, d in _remove_audits(ctx)] == [a[0], b[0]]
    assert {actor for actor, _t, _d in _remove_audits(ctx)} == {f"cli:{getpass.getuser()}"}

    for args, expect in [
        ([pid, str(a[0])], f"person {pid}: no photo {a[0]}"),  # already removed
        ([pid, str(theirs_id)], f"person {pid}: no photo {theirs_id}"),  # another person's
        ([pid, "9" * 30], f"person {pid}: no photo {'9' * 30}"),
        ([pid, "not-a-photo"], "expected a photo id or sha256"),
        (["nobody", str(theirs_id)], "person nobody: not found"),
    ]:
        rc = main([*base, *args])
        assert rc == 2 and expect in capsys.readouterr().err, args
    assert [r.id for r in rows(ctx, other)] == [theirs_id]


def test_api_remove_roles_404_and_csrf(ctx: Context, client: TestClient) -> None:
    pid, other = enrol(ctx), enrol(ctx)
    with ctx.sessions.begin() as s:
        a, b = (
            r.id
            for r in photos.add_photos(
                s,
                ADMIN,
                ctx.evidence,
                pid,
                [("a.jpg", OBAMA3.read_bytes()), ("b.png", png_of(BIDEN))],
            )
        )
        (theirs,) = photos.add_photos(
            s, ADMIN, ctx.evidence, other, [("c.jpg", ASTRONAUT.read_bytes())]
        )
        theirs_id, sha_a = theirs.id, hashlib.sha256(OBAMA3.read_bytes()).hexdigest()
    url = f"/api/persons/{pid}/photos"
    for role in ("operator", "auditor"):
        r = client.delete(f"{url}/{a}", headers=token(client, role))
        assert r.status_code == 403, (role, r.text)
    assert client.delete(f"{url}/{a}").status_code == 401
    assert len(rows(ctx, pid)) == 2

    sup = token(client, "supervisor")
    r = client.delete(f"{url}/{a}", headers=sup)
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["sha256"]) == (a, sha_a)
    assert [p["id"] for p in client.get(url, headers=sup).json()] == [b]
    assert not blob_exists(ctx, sha_a)

    for path, detail in [
        (f"{url}/{a}", f"person {pid}: no photo {a}"),
        (f"{url}/{theirs_id}", f"person {pid}: no photo {theirs_id}"),
        (f"/api/persons/nobody/photos/{b}", "person nobody: not found"),
    ]:
        r = client.delete(path, headers=sup)
        assert (r.status_code, r.json()["detail"]) == (404, detail), path
    assert client.delete(f"{url}/0", headers=sup).status_code == 422
    assert [r.id for r in rows(ctx, other)] == [theirs_id]

    r = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
    csrf = r.json()["csrf_token"]  # the session cookie is now set on the client
    r = client.delete(f"{url}/{b}")
    assert r.status_code == 403 and "CSRF" in r.text
    assert [p.id for p in rows(ctx, pid)] == [b]
    r = client.delete(f"{url}/{b}", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    assert rows(ctx, pid) == []
    assert [d["photo"] for _a, _t, d in _remove_audits(ctx)] == [a, b]


def test_rolled_back_erase_or_remove_keeps_the_bytes(ctx: Context) -> None:
    """Bytes go only after the commit: rows that come back on a rollback still have them."""
    pid = enrol(ctx)
    with ctx.sessions.begin() as s:
        (a,) = photos.add_photos(s, ADMIN, ctx.evidence, pid, [("a.jpg", OBAMA3.read_bytes())])
    with ctx.sessions() as s:
        photos.remove_photo(s, ADMIN, ctx.evidence, pid, a.id)
        assert blob_exists(ctx, a.sha256)  # not yet: the transaction has not committed
        s.rollback()
        s.commit()  # a later commit of the same session must not run the forgotten delete
        persons.erase(s, ADMIN, pid, ctx.evidence)
        s.rollback()
    assert [r.sha256 for r in rows(ctx, pid)] == [a.sha256]
    assert blob_exists(ctx, a.sha256)
    with ctx.sessions.begin() as s:  # and a commit does delete them
        persons.erase(s, ADMIN, pid, ctx.evidence)
    assert rows(ctx, pid) == [] and not blob_exists(ctx, a.sha256)


def test_rolled_back_erasure_keeps_the_old_gallery_files(ctx: Context) -> None:
    """The earlier snapshot files go only after the erasure commits: after a rollback the
    rows still name them, and a later erasure (which reads the newest file) still works."""
    from central.workflow import gallery
    from tests.central.gallery.test_snapshots import synthetic

    pid, other = enrol(ctx), enrol(ctx)
    with ctx.sessions.begin() as s:
        v1 = gallery.upload(s, ADMIN, ctx.evidence, synthetic({pid: 1, other: 1}).to_bytes())
    with ctx.sessions() as s:
        assert gallery.erase_person(s, ADMIN, ctx.evidence, pid) is not None
        s.rollback()
    assert blob_exists(ctx, v1.snapshot_sha256)  # type: ignore[arg-type]
    with ctx.sessions.begin() as s:
        v2 = gallery.erase_person(s, ADMIN, ctx.evidence, pid)
        assert v2 is not None
    assert not blob_exists(ctx, v1.snapshot_sha256)  # type: ignore[arg-type]
    assert blob_exists(ctx, v2.snapshot_sha256)  # type: ignore[arg-type]
