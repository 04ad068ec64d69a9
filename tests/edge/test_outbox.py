"""The on-disk outbox: durability, per-camera order and window, back-off, no dropping."""

from __future__ import annotations

import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from edge.outbox import Outbox, OutboxError, RetryPolicy
from jaywatch.wire import generate_device_key
from tests.edge.transport.acker import event_id_for, make_event

REPO = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


def test_put_is_durable_idempotent_and_survives_reopen(tmp_path) -> None:
    p = tmp_path / "o.sqlite"
    with Outbox(p) as ob:
        assert ob._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert ob._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert ob.put("e1", "cam0", b"one")
        assert not ob.put("e1", "cam0", b"other")  # same event again: ignored
        assert ob.put("e2", "cam1", b"two")
    with Outbox(p) as ob:
        assert [(e.event_id, e.payload) for e in ob.entries()] == [("e1", b"one"), ("e2", b"two")]
        assert ob.depth_by_camera() == {"cam0": 1, "cam1": 1}
        assert ob.delete("e1") and not ob.delete("e1")
        assert ob.depth() == 1


def test_only_one_process_may_own_an_outbox(tmp_path) -> None:
    with Outbox(tmp_path / "o.sqlite"), pytest.raises(OutboxError, match="in use"):
        Outbox(tmp_path / "o.sqlite")
    Outbox(tmp_path / "o.sqlite").close()  # released on close


def test_put_event_requires_a_signature(tmp_path) -> None:
    key = generate_device_key()
    ev = make_event("gw-1", "cam0", key, 0)
    with Outbox(tmp_path / "o.sqlite") as ob:
        with pytest.raises(ValueError, match="not signed"):
            ob.put_event(ev.model_copy(update={"signature": None}))
        assert ob.put_event(ev)
        assert ob.entries()[0].payload == ev.model_dump_json().encode()


def test_due_keeps_camera_order_and_window(tmp_path) -> None:
    clock = Clock()
    with Outbox(tmp_path / "o.sqlite", clock=clock, retry=RetryPolicy(base_s=10, jitter=0)) as ob:
        for i in range(5):
            ob.put(f"a{i}", "camA", b"x")
            ob.put(f"b{i}", "camB", b"y")
        due = ob.due(window=2)
        assert [e.event_id for e in due] == ["a0", "b0", "a1", "b1"]
        ob.mark_sent([e.event_id for e in due])
        assert ob.due(window=2) == []  # window full, nothing acked yet
        ob.delete("a0")
        assert [e.event_id for e in ob.due(window=2)] == ["a2"]  # the window slides
        clock.t += 10.0  # back-off of the first attempt expired: oldest first again
        assert [e.event_id for e in ob.due(window=2)] == ["b0", "a1", "b1", "a2"]
        assert ob.next_due_at(window=2) == 0.0  # a2 was never sent: due at once


def test_resends_back_off_exponentially_with_jitter(tmp_path) -> None:
    pol = RetryPolicy(base_s=2.0, max_s=60.0, jitter=0.3)
    rng = random.Random(7)
    for n in range(1, 10):
        full = min(60.0, 2.0 * 2 ** (n - 1))
        d = pol.delay(n, rng)
        assert 0.7 * full <= d <= full
    clock = Clock()
    with Outbox(tmp_path / "o.sqlite", clock=clock, retry=pol, rng=random.Random(1)) as ob:
        ob.put("e", "cam", b"x")
        waits = []
        for attempt in range(1, 8):
            assert ob.mark_sent(["e"]) == (attempt > 1)
            (e,) = ob.entries()
            assert e.attempts == attempt
            waits.append(e.next_attempt_at - clock.t)
            clock.t = e.next_attempt_at
        assert waits[-1] <= 60.0 and waits[-1] > waits[0] * 8
        ob.make_all_due()
        assert ob.due(window=1)[0].event_id == "e"


def test_rejected_events_are_kept_but_no_longer_sent(tmp_path) -> None:
    with Outbox(tmp_path / "o.sqlite") as ob:
        ob.put("bad", "cam", b"payload")
        ob.put("good", "cam", b"p2")
        assert ob.reject("bad", "signature check failed")
        assert [e.event_id for e in ob.due()] == ["good"]
        assert ob.rejected_count() == 1
        row = ob._db.execute("SELECT payload, reason FROM rejected").fetchone()
        assert row == (b"payload", "signature check failed")
        assert ob.requeue_rejected(["nope"]) == 0
        assert ob.requeue_rejected() == 1  # an operator sends it again
        assert ob.rejected_count() == 0
        assert [e.event_id for e in ob.entries()] == ["good", "bad"]
        assert ob.entries()[1].payload == b"payload"


def test_low_disk_is_reported_and_logged_but_nothing_is_dropped(tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="edge.outbox")
    with Outbox(tmp_path / "o.sqlite", min_free_bytes=1 << 62) as ob:
        for i in range(50):
            assert ob.put(f"e{i}", "cam", b"x" * 1000)
        st = ob.disk_status()
        assert st.low and st.free_bytes > 0
        assert ob.depth() == 50
    assert any("disk low" in r.getMessage() for r in caplog.records)


def test_a_full_database_fails_loudly_and_keeps_what_it_had(tmp_path, caplog) -> None:
    """SQLite's max_page_count makes the database genuinely full (SQLITE_FULL)."""
    with Outbox(tmp_path / "o.sqlite") as ob:
        ob.put("e0", "cam", b"x")
        ob._db.execute(
            f"PRAGMA max_page_count = {ob._db.execute('PRAGMA page_count').fetchone()[0]}"
        )
        with pytest.raises(OutboxError, match="could not store event big"):
            ob.put("big", "cam", os.urandom(200_000))
        assert [e.event_id for e in ob.entries()] == ["e0"]
    assert any(r.levelno == logging.CRITICAL for r in caplog.records)


CHILD = """
import sys
from edge.outbox import Outbox
from jaywatch.wire import generate_device_key
from tests.edge.transport.acker import make_event
key = generate_device_key()
ob = Outbox(sys.argv[1])
for i in range(100000):
    ob.put_event(make_event("gw-k", f"cam{i % 2}", key, i, jpeg=bytes(range(256)) * 40))
    print(i, flush=True)
"""


@pytest.mark.timeout(60)
def test_kill9_mid_stream_keeps_every_put_exactly_once(tmp_path) -> None:
    db = tmp_path / "o.sqlite"
    p = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert p.stdout is not None
    printed = 0
    for _line in p.stdout:
        printed += 1
        if printed == 300:
            break
    os.kill(p.pid, signal.SIGKILL)
    p.wait(10)
    with Outbox(db) as ob:  # the kill released the process lock
        ids = [e.event_id for e in ob.entries()]
        assert ob._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # every put that returned is there; at most the one in flight beyond it; none twice
    assert len(ids) == len(set(ids))
    assert ids[:printed] == [event_id_for("gw-k", i) for i in range(printed)]
    assert len(ids) - printed in (0, 1, 2)
    raw = sqlite3.connect(db).execute("SELECT count(*) FROM outbox").fetchone()[0]
    assert raw == len(ids)


def test_outbox_files_are_owner_only(tmp_path) -> None:
    import stat

    with Outbox(tmp_path / "o.sqlite") as ob:
        ob.put("e", "cam", b"face evidence")
        for f in ("o.sqlite", "o.sqlite-wal"):
            assert stat.S_IMODE((tmp_path / f).stat().st_mode) == 0o600, f


def test_an_unusable_path_is_one_clear_error(tmp_path) -> None:
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(OutboxError, match=r"dir\.sqlite"):
        Outbox(tmp_path / "dir.sqlite")


def test_concurrent_puts_from_many_threads_while_draining(tmp_path) -> None:
    """Pipeline threads put while the publisher side reads, marks and deletes."""
    import threading

    with Outbox(tmp_path / "o.sqlite") as ob:
        done = threading.Event()
        deleted: list[str] = []

        def drain() -> None:
            while not done.is_set() or ob.depth():
                due = ob.due(window=8)
                ob.mark_sent([e.event_id for e in due])
                ob.delete_many([e.event_id for e in due])
                deleted.extend(e.event_id for e in due)

        def produce(t: int) -> None:
            for i in range(50):
                assert ob.put(f"t{t}-{i}", f"cam{t}", b"x")

        drainer = threading.Thread(target=drain)
        drainer.start()
        producers = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
        for p in producers:
            p.start()
        for p in producers:
            p.join()
        done.set()
        drainer.join(30)
        assert ob.depth() == 0
    assert sorted(deleted) == sorted(f"t{t}-{i}" for t in range(4) for i in range(50))
    for t in range(4):  # each camera drained in the order it was put
        mine = [d for d in deleted if d.startswith(f"t{t}-")]
        assert mine == [f"t{t}-{i}" for i in range(50)]


STRACED = """
import sys
from edge.outbox import Outbox
ob = Outbox(sys.argv[1])
for i in range(5):
    ob.put(f"e{i}", "cam", b"x" * 100)
    sys.stdout.write(f"PUT {i}\\n"); sys.stdout.flush()
for i in range(5):
    ob.mark_sent([f"e{i}"]); ob.delete(f"e{i}")
sys.stdout.write("BOOKKEPT\\n"); sys.stdout.flush()
"""


@pytest.mark.timeout(60)
def test_each_put_is_fsynced_before_it_returns(tmp_path) -> None:
    """Power-loss durability rests on the fsync: seen in the system calls (strace), every
    put has synced the WAL before the caller could report it; sends/acks do not sync."""
    import shutil

    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (apt-get install strace)")
    trace = tmp_path / "trace"
    r = subprocess.run(
        [strace, "-f", "-qq", "-e", "trace=fsync,fdatasync,write", "-o", str(trace),
         sys.executable, "-c", STRACED, str(tmp_path / "o.sqlite")],
        cwd=REPO, capture_output=True, text=True, timeout=50,
    )  # fmt: skip
    if r.returncode != 0 and "ptrace" in r.stderr:
        pytest.skip(f"ptrace not permitted here: {r.stderr.strip()[:200]}")
    assert r.returncode == 0, r.stderr
    syncs = 0
    seen: list[tuple[str, int]] = []
    for line in trace.read_text().splitlines():
        if "fsync(" in line or "fdatasync(" in line:
            syncs += 1
        elif 'write(1, "' in line:
            seen.append((line.split('"')[1].strip("\\n"), syncs))
            syncs = 0
    assert [s for s, _ in seen] == [f"PUT {i}" for i in range(5)] + ["BOOKKEPT"]
    assert all(n >= 1 for _, n in seen[:5])  # a sync before every put returned
    assert seen[5][1] == 0  # 5 sends + 5 acks recorded without a single sync
