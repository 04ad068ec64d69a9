"""`jaywatch edge outbox list|show|requeue|drop` on a real outbox file, through the CLI."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from edge.outbox import Outbox
from jaywatch.wire import generate_device_key
from tests.edge.transport.acker import event_id_for, make_event

REPO = Path(__file__).resolve().parents[2]
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"  # bytes only; never decoded


def jaywatch(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jaywatch_app.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
        cwd=REPO,
    )


@pytest.fixture
def outbox(tmp_path: Path) -> tuple[Path, list[str]]:
    """Three events: one pending, one sent (in flight), one rejected by central."""
    key = generate_device_key()
    path = tmp_path / "outbox.sqlite"
    with Outbox(path) as ob:
        for i, cam in enumerate(("cam-a", "cam-b", "cam-a")):
            ob.put_event(make_event("gw-1", cam, key, i, jpeg=JPEG))
        ob.mark_sent([event_id_for("gw-1", 1)])
        ob.reject(event_id_for("gw-1", 2), "signature does not verify")
    return path, [event_id_for("gw-1", i) for i in range(3)]


def test_list_shows_state_camera_reason_size_and_filters(outbox) -> None:
    path, ids = outbox
    r = jaywatch("edge", "outbox", "list", "--outbox", str(path), "--json")
    assert r.returncode == 0, r.stderr
    rows = {x["event_id"]: x for x in json.loads(r.stdout)}
    assert [rows[i]["state"] for i in ids] == ["pending", "in flight", "rejected"]
    assert rows[ids[1]]["camera_id"] == "cam-b"
    assert "sent 1x" in rows[ids[1]]["reason"]
    assert rows[ids[2]]["reason"].startswith("signature does not verify")
    with sqlite3.connect(path) as db:
        (size,) = db.execute("SELECT length(payload) FROM rejected").fetchone()
    assert rows[ids[2]]["size"] == size > len(JPEG)

    r = jaywatch("edge", "outbox", "list", "--outbox", str(path), "--state", "quarantined")
    assert r.returncode == 0, r.stderr
    assert ids[2] in r.stdout and ids[0] not in r.stdout and ids[1] not in r.stdout
    assert "rejected" in r.stdout.splitlines()[1]


def test_show_gives_metadata_and_hashes_never_the_evidence(outbox) -> None:
    path, ids = outbox
    r = jaywatch("edge", "outbox", "show", "--outbox", str(path), ids[2][:8])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["event_id"] == ids[2] and out["state"] == "rejected"
    assert "signature does not verify" in out["reason"]
    assert out["event"]["signed"] is True and out["event"]["offence_code"] == "PED_RED"
    assert out["evidence"] == [
        {
            "role": "entry",
            "frame": 2,
            "blurred_faces": 0,
            "bytes": len(JPEG),
            "sha256": hashlib.sha256(JPEG).hexdigest(),
        }
    ]
    assert "jpeg_b64" not in r.stdout  # no evidence bytes on the terminal


def test_unknown_or_ambiguous_id_names_it_without_traceback(outbox, tmp_path: Path) -> None:
    path, _ = outbox
    r = jaywatch("edge", "outbox", "show", "--outbox", str(path), "nope-1234")
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "jaywatch: error: event 'nope-1234': not in the outbox (queued or rejected)"
    )
    r = jaywatch("edge", "outbox", "list", "--outbox", str(tmp_path / "missing.sqlite"))
    assert r.returncode == 2 and "no outbox at" in r.stderr and "Traceback" not in r.stderr
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"\x00garbage" * 100)
    r = jaywatch("edge", "outbox", "list", "--outbox", str(junk))
    assert r.returncode == 2 and "not a readable jaywatch outbox" in r.stderr
    assert "Traceback" not in r.stderr


def test_requeue_moves_a_rejected_event_back_durably_and_logs_it(outbox) -> None:
    path, ids = outbox
    r = jaywatch("edge", "outbox", "requeue", "--outbox", str(path), ids[0])
    assert r.returncode == 2 and "not rejected" in r.stderr and ids[0] in r.stderr
    # Without a terminal and without --yes nothing changes.
    r = jaywatch("edge", "outbox", "requeue", "--outbox", str(path), ids[2], stdin="")
    assert r.returncode == 1 and "--yes" in r.stderr
    with Outbox(path) as ob:
        assert ob.rejected_count() == 1
    r = jaywatch("edge", "outbox", "requeue", "--outbox", str(path), "--all-rejected", "--yes")
    assert r.returncode == 0, r.stderr
    assert f"requeued 1 event(s): {ids[2]}" in r.stdout
    assert "requeued by" in r.stderr  # logged
    with Outbox(path) as ob:
        assert ob.rejected_count() == 0
        assert [e.event_id for e in ob.entries()] == ids
        log = ob._db.execute("SELECT action, event_id, from_state FROM operator_log").fetchall()
    assert log == [("requeue", ids[2], "rejected")]


def test_drop_asks_then_deletes_and_keeps_a_trace(outbox) -> None:
    path, ids = outbox
    r = jaywatch("edge", "outbox", "drop", "--outbox", str(path), ids[1], stdin="y\n")
    assert r.returncode == 1  # stdin is not a terminal: needs --yes
    r = jaywatch("edge", "outbox", "drop", "--outbox", str(path), ids[1], "--yes")
    assert r.returncode == 0, r.stderr
    assert f"dropped queued event {ids[1]}" in r.stdout
    with Outbox(path) as ob:
        assert [e.event_id for e in ob.entries()] == [ids[0]]
        (row,) = ob._db.execute(
            "SELECT action, event_id, camera_id, from_state, payload_sha256 FROM operator_log"
        ).fetchall()
    assert row[:4] == ("drop", ids[1], "cam-b", "queued") and len(row[4]) == 64
    r = jaywatch("edge", "outbox", "drop", "--outbox", str(path), ids[1], "--yes")
    assert r.returncode == 2 and ids[1] in r.stderr and "Traceback" not in r.stderr


def test_reads_work_while_the_gateway_holds_it_changes_are_refused(outbox, tmp_path) -> None:
    path, ids = outbox
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(
        f"device_id: gw-1\nkey_file: device.key\noutbox:\n  path: {path.name}\n"
        "cameras:\n  - cam.yaml\n"
    )
    with Outbox(path):  # as `jaywatch edge run` does
        r = jaywatch("edge", "outbox", "list", "--config", str(cfg), "--json")
        assert r.returncode == 0, r.stderr
        assert len(json.loads(r.stdout)) == 3
        r = jaywatch("edge", "outbox", "drop", "--config", str(cfg), ids[0], "--yes")
        assert r.returncode == 2
        assert "in use by another process" in r.stderr and "stop the gateway" in r.stderr
    with Outbox(path) as ob:
        assert ob.depth() == 2  # nothing was dropped
