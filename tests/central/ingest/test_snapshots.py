"""Camera snapshots through the real ingest worker on a real mosquitto (SQLite and
PostgreSQL): an honest one is re-encoded and kept as the camera's only snapshot (a newer
one replaces it, a late older one does not); hostile ones — arbitrary bytes, not a JPEG,
wrong dimensions, oversize, truncated, a header declaring 60000x60000 (a decompression
bomb), unsigned, signed by another key, for another device, for a 65th camera — are
dead-lettered with a reason while the worker keeps running; the
snapshot goes with its device; one camera's snapshots faster than
``ingest.snapshot_min_interval_s`` are dropped and counted on the device, not
dead-lettered (the flood through ``central serve``: tests/integration/test_device_flood.py)."""

from __future__ import annotations

import base64
import contextlib
import io
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image

from central.config import IngestSettings, MqttSettings
from central.context import Context
from central.ingest.consumer import IngestWorker
from central.store.models import CameraSnapshot, DeadLetter, Device
from jaywatch import wire
from tests.central.helpers import add_device, make_context
from tests.central.ingest.test_broker import EdgeClient, wait_until
from tests.services import Broker, fresh_pg_database, pg_admin_url

pytestmark = [pytest.mark.broker]
PHOTO = Path(__file__).resolve().parents[3] / "sample_media" / "photos" / "vtest_0400.jpg"


def _jpeg(w: int = 320, h: int = 240, **save: Any) -> bytes:
    img = Image.open(PHOTO).convert("RGB").resize((w, h))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=70, **save)
    return out.getvalue()


def _with_sof_size(jpeg: bytes, w: int, h: int) -> bytes:
    """``jpeg`` with its frame header (SOF0) declaring ``w`` x ``h``."""
    i = jpeg.index(b"\xff\xc0")
    return jpeg[: i + 5] + struct.pack(">HH", h, w) + jpeg[i + 9 :]


@dataclass
class Rig:
    ctx: Context
    worker: IngestWorker
    edge: EdgeClient
    keys: dict[str, Any]

    def handled(self) -> int:
        return sum(self.worker.counts[s] for s in ("snapshot", "rejected"))

    def send(self, payload: bytes | str, device: str = "gw-1") -> None:
        before = self.handled()
        self.edge.publish(wire.snapshot_topic(device), payload)
        assert wait_until(lambda: self.handled() > before, 20), "message never handled"
        h = self.worker.health()
        assert h.worker == "running" and h.worker_restarts == 0 and h.healthy, h

    def stored(self) -> dict[str, CameraSnapshot]:
        with self.ctx.sessions() as s:
            rows = s.execute(sa.select(CameraSnapshot)).scalars().all()
            s.expunge_all()
        return {f"{r.device_id}/{r.camera_id}": r for r in rows}

    def last_reason(self) -> str:
        with self.ctx.sessions() as s:
            return s.execute(sa.select(DeadLetter.reason).order_by(DeadLetter.id.desc())).scalar()


def _db(kind: str, d: Path) -> Any:
    if kind == "postgresql":
        return fresh_pg_database(pg_admin_url())
    return contextlib.nullcontext(f"sqlite:///{d / 'snap.db'}")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    with tempfile.TemporaryDirectory(prefix="jw-snap-") as d, _db(request.param, Path(d)) as url:
        broker = Broker(workdir=Path(d) / "broker").start()
        ctx = make_context(url, Path(d))
        keys = {dev: add_device(ctx, dev) for dev in ("gw-1", "gw-2")}
        w = IngestWorker(
            MqttSettings(host=broker.host, port=broker.port, client_id="central-snap"),
            # No minimum interval here: these tests send one camera's snapshots back to
            # back (test_the_minimum_interval_per_camera checks the limit itself).
            IngestSettings(batch_max=20, snapshot_min_interval_s=0),
            ctx.sessions,
            ctx.evidence,
        ).start()
        edge = EdgeClient(broker, "gw-1")
        try:
            yield Rig(ctx, w, edge, keys)
        finally:
            edge.close()
            w.stop()
            ctx.close()
            broker.stop()


def _snap(key: Any, jpeg: bytes, *, device: str = "gw-1", camera: str = "cam-1",
          size: tuple[int, int] = (320, 240), sign: bool = True, **kw: Any) -> bytes:  # fmt: skip
    m = wire.CameraSnapshot.model_construct(  # no checks: a hostile sender makes none
        device_id=device,
        camera_id=camera,
        taken=kw.pop("taken", wire.utcnow()),
        width=size[0],
        height=size[1],
        jpeg_b64=base64.b64encode(jpeg).decode(),
        blurred_people=3,
        **kw,
    )
    return (wire.sign_message(m, key) if sign else m).model_dump_json().encode()


def test_the_latest_snapshot_is_kept_reencoded_and_only_it(rig: Rig) -> None:
    key = rig.keys["gw-1"]
    t0 = wire.utcnow()
    exif = Image.Exif()
    exif[0x010F] = "SecretCam GPS 52.1N"  # Make: metadata the gateway should not send
    first = _jpeg(exif=exif.tobytes(), comment=b"hello")
    rig.send(_snap(key, first, taken=t0))
    s = rig.stored()["gw-1/cam-1"]
    assert s.width == 320 and s.height == 240 and s.blurred_people == 3
    assert s.jpeg != first and s.jpeg.startswith(b"\xff\xd8\xff")
    assert b"SecretCam" not in s.jpeg and b"hello" not in s.jpeg  # metadata dropped
    with Image.open(io.BytesIO(s.jpeg)) as img:
        assert img.size == (320, 240) and not img.getexif()
    rig.send(_snap(key, _jpeg(320, 180), size=(320, 180), taken=t0 + timedelta(seconds=60)))
    assert rig.stored()["gw-1/cam-1"].height == 180  # replaced: one row per camera
    rig.send(_snap(key, _jpeg(), taken=t0 - timedelta(seconds=60)))  # late and older
    stored = rig.stored()
    assert stored["gw-1/cam-1"].height == 180 and len(stored) == 1


GOOD = _jpeg()


@pytest.mark.parametrize(
    ("name", "payload", "reason"),
    [
        ("bytes", lambda k: b"\x00\xff" * 500, "payload is not JSON"),
        ("json", lambda k: b'{"kind": "snapshot"}', "device_id"),
        ("not-jpeg", lambda k: _snap(k, b"GIF89a" + b"\0" * 100), "not a JPEG"),
        ("png", lambda k: _snap(k, _png()), "not a JPEG"),
        ("dims", lambda k: _snap(k, GOOD, size=(300, 240)), "320x240"),
        ("bomb", lambda k: _snap(k, _with_sof_size(GOOD, 60000, 60000)), "DecompressionBomb"),
        ("header", lambda k: _snap(k, _with_sof_size(GOOD, 1000, 1000)), "JPEG is 1000x1000"),
        ("truncated", lambda k: _snap(k, GOOD[: len(GOOD) // 2]), "not a readable JPEG"),
        ("garbage-jpeg", lambda k: _snap(k, b"\xff\xd8\xff" + b"\x17" * 5000), "readable"),
        ("oversize", lambda k: _big(k), "jpeg_b64"),
        ("width", lambda k: _snap(k, GOOD, size=(4000, 240)), "width"),
        ("unsigned", lambda k: _snap(k, GOOD, sign=False), "signature: missing"),
        ("foreign-key", lambda k: _snap(wire.generate_device_key(), GOOD), "does not verify"),
        ("other-device", lambda k: _snap(k, GOOD, device="gw-2"), "does not match topic"),
    ],
)
def test_hostile_snapshots_are_dead_lettered_and_ingest_goes_on(
    rig: Rig, name: str, payload: Any, reason: str
) -> None:
    before = {k: v.jpeg for k, v in rig.stored().items()}
    rejected = rig.worker.counts["rejected"]
    rig.send(payload(rig.keys["gw-1"]))
    assert rig.worker.counts["rejected"] == rejected + 1, name
    assert reason in rig.last_reason(), rig.last_reason()
    assert {k: v.jpeg for k, v in rig.stored().items()} == before  # nothing changed
    # ...and an honest snapshot right after is stored.
    taken = rig.stored()["gw-1/cam-1"].taken + timedelta(seconds=1)
    rig.send(_snap(rig.keys["gw-1"], GOOD, camera="cam-1", taken=taken))
    assert rig.stored()["gw-1/cam-1"].taken == taken


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240)).save(out, "PNG")
    return out.getvalue()


def _big(key: Any) -> bytes:
    body = _snap(key, GOOD).decode()
    b64 = base64.b64encode(GOOD + b"\0" * wire.SNAPSHOT_MAX_BYTES).decode()
    return body.replace(base64.b64encode(GOOD).decode(), b64).encode()


def test_a_device_gets_snapshots_of_at_most_64_cameras(rig: Rig) -> None:
    from central.ingest.store import MAX_SNAPSHOT_CAMERAS

    key = rig.keys["gw-2"]
    for i in range(MAX_SNAPSHOT_CAMERAS):
        rig.send(_snap(key, GOOD, device="gw-2", camera=f"cam-{i}"), device="gw-2")
    assert len([k for k in rig.stored() if k.startswith("gw-2/")]) == MAX_SNAPSHOT_CAMERAS
    rejected = rig.worker.counts["rejected"]
    rig.send(_snap(key, GOOD, device="gw-2", camera="cam-invented"), device="gw-2")
    assert rig.worker.counts["rejected"] == rejected + 1
    assert "already has 64 cameras' snapshots" in rig.last_reason()
    # Refused before its pixels are decoded: a 65th camera's truncated JPEG (whose header
    # is fine) is refused for the camera cap, not as unreadable (no decoding happened).
    rig.send(_snap(key, GOOD[: len(GOOD) // 2], device="gw-2", camera="cam-x"), device="gw-2")
    assert "already has 64 cameras' snapshots" in rig.last_reason()
    rejected += 1
    rig.send(_snap(key, GOOD, device="gw-2", camera="cam-3"), device="gw-2")  # known: fine
    assert rig.worker.counts["rejected"] == rejected + 1


def test_the_snapshot_goes_with_its_device(rig: Rig) -> None:
    rig.send(_snap(rig.keys["gw-2"], GOOD, device="gw-2"), device="gw-2")
    assert "gw-2/cam-1" in rig.stored()
    with rig.ctx.sessions.begin() as s:
        s.execute(sa.delete(Device).where(Device.id == "gw-2"))
    assert "gw-2/cam-1" not in rig.stored() and "gw-1/cam-1" in rig.stored()


def test_a_snapshot_nobody_replaced_is_purged_after_retention(rig: Rig) -> None:
    from central.config import RetentionSettings
    from central.retention import purge

    assert "gw-1/cam-1" in rig.stored()
    received = rig.stored()["gw-1/cam-1"].received
    with rig.ctx.sessions.begin() as s:  # within snapshots_days (1): kept
        assert (
            purge(s, RetentionSettings(), now=received + timedelta(hours=23)).counts[
                "camera_snapshots"
            ]
            == 0
        )
    assert "gw-1/cam-1" in rig.stored()
    with rig.ctx.sessions.begin() as s:
        assert (
            purge(s, RetentionSettings(), now=received + timedelta(days=2)).counts[
                "camera_snapshots"
            ]
            == 1
        )
    assert rig.stored() == {}


def test_the_minimum_interval_per_camera(rig: Rig) -> None:
    """Through ingest's own classify + store: the gate drops a camera's second snapshot
    within the interval before decoding it, the database check drops it across workers
    (a fresh gate), another camera is not affected, and after the interval it is kept."""
    from central.ingest.classify import (
        Incoming,
        KeyCache,
        SnapshotGate,
        ThrottledSnapshot,
        classify,
    )
    from central.ingest.store import load_device_keys, store_batch

    key, t0 = rig.keys["gw-1"], wire.utcnow() - timedelta(seconds=30)
    clock = [0.0]
    gate = SnapshotGate(4.0, clock=lambda: clock[0])

    def keys() -> dict[str, bytes]:
        with rig.ctx.sessions() as s:
            return load_device_keys(s)

    def ingest(camera: str, i: int, g: SnapshotGate) -> str:
        payload = _snap(key, GOOD, camera=camera, taken=t0 + timedelta(seconds=i))
        m = Incoming(wire.snapshot_topic("gw-1"), payload)
        c = classify(m, KeyCache(keys), 10_000_000, snapshot_gate=g)
        with rig.ctx.sessions.begin() as s:
            (out,) = store_batch(s, [c], rig.ctx.evidence, 4096, snapshot_min_interval_s=4.0)
        return out.status

    def dropped() -> tuple[int, object]:
        with rig.ctx.sessions() as s:
            d = s.get(Device, "gw-1")
            assert d is not None
            return d.snapshots_dropped, d.snapshots_dropped_last

    before, _ = dropped()
    assert ingest("rate-1", 0, gate) == "snapshot"
    assert isinstance(
        classify(Incoming(wire.snapshot_topic("gw-1"), _snap(key, GOOD, camera="rate-1")),
                 KeyCache(keys), 10_000_000, snapshot_gate=gate),
        ThrottledSnapshot,
    )  # fmt: skip
    assert ingest("rate-1", 1, gate) == "snapshot_dropped"  # this worker's gate
    assert ingest("rate-1", 2, SnapshotGate(4.0)) == "snapshot_dropped"  # another worker: the DB
    assert ingest("rate-2", 3, gate) == "snapshot"  # another camera
    n, last = dropped()
    assert n == before + 2 and last is not None
    rejected = rig.worker.counts["rejected"]
    with rig.ctx.sessions.begin() as s:  # the interval passes
        s.execute(
            sa.update(CameraSnapshot)
            .where(CameraSnapshot.camera_id == "rate-1")
            .values(received=wire.utcnow() - timedelta(seconds=5))
        )
    clock[0] = 5.0
    assert ingest("rate-1", 4, gate) == "snapshot"
    assert rig.stored()["gw-1/rate-1"].taken == t0 + timedelta(seconds=4)
    assert rig.worker.counts["rejected"] == rejected  # nothing dead-lettered
