"""Central's files are owner-only whatever the umask: with umask 000 the database (and
its WAL/SHM), its directory, the evidence directories and blobs, and central's signing
key come out 0600/0700 — through the CLI a deployer runs (migrate, keygen, person photo
add). An existing database left world-readable is tightened when central opens it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from central.store.db import make_engine, ping
from central.workflow.persons import enrol
from tests.central.helpers import ADMIN, REPO, jpeg, make_context


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _cli(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jaywatch_app.cli", "central", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        preexec_fn=lambda: os.umask(0),  # the most careless umask there is
        timeout=120,
    )


def test_database_evidence_and_key_are_owner_only_under_umask_000(tmp_path: Path) -> None:
    db = tmp_path / "var" / "jaywatch" / "central.db"
    ev = tmp_path / "var" / "jaywatch" / "evidence"
    cfg = tmp_path / "central.yaml"
    cfg.write_text(
        f"database_url: sqlite:///{db}\nevidence_dir: {ev}\n"
        f"fines_file: {REPO / 'config' / 'fines.yaml'}\n"
    )
    r = _cli(cfg, "migrate")
    assert r.returncode == 0, r.stderr
    assert _mode(db) == 0o600
    for d in (db.parent, db.parent.parent):
        assert _mode(d) == 0o700, d
    for side in ("-wal", "-shm"):
        f = db.with_name(db.name + side)
        if f.exists():
            assert _mode(f) == 0o600, f

    r = _cli(cfg, "keygen", "--out", str(tmp_path / "central.key"))
    assert r.returncode == 0, r.stderr
    assert _mode(tmp_path / "central.key") == 0o600

    ctx = make_context(f"sqlite:///{db}", tmp_path)
    try:
        with ctx.sessions.begin() as s:
            pid = enrol(s, ADMIN, ctx.rules, "+447911123456", "road traffic act s.12").id
    finally:
        ctx.close()
    photo = tmp_path / "p.jpg"
    photo.write_bytes(jpeg(3, 64))
    r = _cli(cfg, "person", "photo", "add", pid, str(photo))
    assert r.returncode == 0, r.stderr
    blobs = [p for p in ev.rglob("*") if p.is_file()]
    dirs = [ev, *(p for p in ev.rglob("*") if p.is_dir())]
    assert blobs and len(dirs) >= 3
    assert {_mode(p) for p in blobs} == {0o600}
    assert {_mode(d) for d in dirs} == {0o700}
    assert _mode(db) == 0o600


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{db}")
    ping(engine)
    engine.dispose()
    os.chmod(db, 0o644)
    engine = make_engine(f"sqlite:///{db}")
    try:
        ping(engine)
        assert _mode(db) == 0o600
    finally:
        engine.dispose()
