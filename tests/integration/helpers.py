"""Shared parts of the end-to-end tests: the shipped broker ACL with passwords, the real
central ingest (IngestWorker into SQLite/PostgreSQL), gateway config files, and reading
back what central stored (with each event's signature re-checked from the evidence store).
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central.config import IngestSettings, MqttSettings
from central.context import Context
from central.ingest.consumer import IngestWorker
from central.store.models import Device, Event, Evidence
from central.workflow.common import SYSTEM
from central.workflow.devices import register_device
from jaywatch import wire
from tests.central.helpers import make_context
from tests.services import Broker

REPO = Path(__file__).resolve().parents[2]
SCENES = REPO / "sample_media" / "scenes"
ACL = (REPO / "config" / "mosquitto" / "jaywatch.acl").read_text()
PASSWORDS = {"central": "central-pw", "gw-a": "a-pw", "gw-b": "b-pw"}


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    if not cond():
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def secure_broker(make_broker: Callable[..., Broker], tls: bool = True) -> Broker:
    """mosquitto as shipped: a login per user and the rules of config/mosquitto's ACL
    applied by the dynamic-security plugin (devices bound to their client id)."""
    return make_broker(passwords=PASSWORDS, dynsec_acl=ACL, tls=tls)


@dataclass
class Central:
    """Central's real ingest: a Context (DB + evidence store) and one IngestWorker,
    logged in as the broker user ``central``; stoppable and restartable."""

    ctx: Context
    broker: Broker
    worker: IngestWorker | None = None

    @classmethod
    def create(cls, db_url: str, tmp_path: Path, broker: Broker) -> Central:
        return cls(make_context(db_url, tmp_path), broker)

    def register(self, device_id: str, key: Ed25519PrivateKey, cameras: list[str]) -> None:
        with self.ctx.sessions.begin() as s:
            register_device(
                s,
                SYSTEM,
                device_id,
                wire.public_key_bytes(key),
                "test crossing",
                {c: f"{c} place" for c in cameras},
            )

    def start(self) -> Central:
        b = self.broker
        self.worker = IngestWorker(
            MqttSettings(
                host=b.host,
                port=b.port,
                username="central",
                password=PASSWORDS["central"],
                cafile=str(b.cafile) if b.cafile else None,
                client_id="central-it",
            ),
            IngestSettings(batch_max=100),
            self.ctx.sessions,
            self.ctx.evidence,
        ).start()
        return self

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def close(self) -> None:
        self.stop()
        self.ctx.close()

    # --- reading back -------------------------------------------------------------------

    def count(self, model: type = Event) -> int:
        with self.ctx.sessions() as s:
            return s.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()

    def events(self) -> list[Event]:
        with self.ctx.sessions() as s:
            return list(s.execute(sa.select(Event).order_by(Event.id)).scalars())

    def evidence_count(self, event_pk: int) -> int:
        with self.ctx.sessions() as s:
            q = sa.select(sa.func.count()).where(Evidence.event_pk == event_pk)
            return s.execute(q).scalar_one()

    def device_status(self, device_id: str) -> dict[str, Any] | None:
        with self.ctx.sessions() as s:
            return s.execute(sa.select(Device.status).where(Device.id == device_id)).scalar()

    def rebuild_signed(self, ev: Event) -> wire.ViolationEvent:
        """The message as the device signed it: images back from the evidence store."""
        body = json.loads(json.dumps(ev.payload))
        for img in body["evidence"]:
            img["jpeg_b64"] = base64.b64encode(self.ctx.evidence.get(img.pop("sha256"))).decode()
        if body.get("clip"):
            clip = self.ctx.evidence.get(body["clip"]["sha256"])
            body["clip"]["webm_b64"] = base64.b64encode(clip).decode()
        return wire.ViolationEvent.model_validate(body)


def camera_yaml(scene: str | Path, out: Path, **override: Any) -> Path:
    """A copy of a sample scene's camera.yaml (a name under sample_media/scenes or a
    scene folder) with an absolute source, and ``override`` applied."""
    folder = scene if isinstance(scene, Path) else SCENES / scene
    data = yaml.safe_load((folder / "camera.yaml").read_text())
    data["source"] = str(folder / "video.mp4")
    data.update(override)
    out.write_text(yaml.safe_dump(data))
    return out


def gateway_yaml(
    d: Path,
    device_id: str,
    broker: Broker,
    cameras: list[Path],
    key: Ed25519PrivateKey,
    **extra: Any,
) -> Path:
    """Write ``d/edge.yaml`` plus its key and password files; returns the config path."""
    from cryptography.hazmat.primitives import serialization

    d.mkdir(parents=True, exist_ok=True)
    (d / "device.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (d / "device.key").chmod(0o600)
    (d / "mqtt.password").write_text(PASSWORDS[device_id] + "\n")
    cfg: dict[str, Any] = {
        "device_id": device_id,
        "broker": {
            "host": broker.host,
            "port": broker.port,
            "tls": bool(broker.tls),
            "password_file": "mqtt.password",
            "keepalive_s": 10,
            "reconnect_min_s": 1,
            "reconnect_max_s": 2,
            **({"ca_file": str(broker.cafile)} if broker.tls else {}),
        },
        "key_file": "device.key",
        "outbox": {"path": "outbox.sqlite", "retry_base_s": 2, "retry_max_s": 4},
        "cameras": [str(c) for c in cameras],
        "health": {"interval_s": 1, "metrics_port": None},
    }
    for k, v in extra.items():
        cfg[k] = {**cfg[k], **v} if isinstance(cfg.get(k), dict) else v
    path = d / "edge.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def ground_truth(scene: str) -> dict[str, Any]:
    return json.loads((SCENES / scene / "ground_truth.json").read_text())


def stored_as_reported(central: Central) -> list[dict[str, Any]]:
    """Central's rows in the shape edge.evaluation.score_scene reads (t, foot point)."""
    out = []
    for ev in central.events():
        x1, _y1, x2, y2 = ev.payload["bbox"]
        out.append({"t": ev.payload["t"], "foot": [(x1 + x2) / 2, y2], "event_id": ev.event_id})
    return out


class StatusWatcher:
    """Reads the retained device status the way central does (as broker user ``central``)
    and keeps every one it sees, e.g. to watch the outbox depth while central is down."""

    def __init__(self, broker: Broker, device_id: str) -> None:
        import paho.mqtt.client as mqtt

        self.seen: list[wire.DeviceStatus] = []
        self.c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"watch-{device_id}", protocol=mqtt.MQTTv5
        )
        self.c.username_pw_set("central", PASSWORDS["central"])
        if broker.tls:
            self.c.tls_set(ca_certs=str(broker.cafile))
        self.c.on_message = lambda _c, _u, m: self.seen.append(wire.parse_message(m.payload))  # type: ignore[arg-type]
        self.c.on_connect = lambda c, *_a: c.subscribe(wire.status_topic(device_id), qos=1)
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()

    def latest(self) -> wire.DeviceStatus | None:
        return self.seen[-1] if self.seen else None

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def start_edge(config: Path, log: Path, *extra: str) -> subprocess.Popen:
    """``jaywatch edge run`` as a child process (its own session, output to ``log``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "jaywatch_app.cli", "edge", "run", "--config", str(config), *extra],
        cwd=REPO,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def outbox_ids(path: Path) -> set[str]:
    """Event ids still in an outbox file (read directly: its owner is dead)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return {r[0] for r in db.execute("SELECT event_id FROM outbox")}


class CentralPublisher:
    """Central's side of the gallery topic: signed, retained announcements, logged in as
    broker user ``central`` (the only one the ACL lets write it)."""

    def __init__(self, broker: Broker, key: Ed25519PrivateKey) -> None:
        import paho.mqtt.client as mqtt

        self.key = key
        self.c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="central-gallery", protocol=mqtt.MQTTv5
        )
        self.c.username_pw_set("central", PASSWORDS["central"])
        if broker.tls:
            self.c.tls_set(ca_certs=str(broker.cafile))
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()

    def announce(self, version: int, url: str, sha256: str, *, sign: bool = True) -> None:
        import paho.mqtt.client as mqtt

        ann = wire.GalleryAnnouncement(
            device_id="central", version=str(version), sha256=sha256, url=url
        )
        if sign:
            ann = wire.sign_message(ann, self.key)
        info = self.c.publish(wire.GALLERY_TOPIC, ann.model_dump_json(), qos=1, retain=True)
        info.wait_for_publish(10)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def gallery_bytes(people: dict[str, list[str]], version: int, out: Path) -> bytes:
    """A real gallery file (sface) built by edge.gallery.build from sample_media/faces."""
    from edge.faces.config import FacesConfig
    from edge.faces.detect import YuNetDetector
    from edge.faces.embed import make_embedder
    from edge.gallery.build import build_gallery

    photos = REPO / "sample_media" / "faces" / "photos"
    pairs = [(pid, photos / f"{n}.jpg") for pid, names in people.items() for n in names]
    res = build_gallery(
        pairs, {"sface": make_embedder("sface")}, FacesConfig(), YuNetDetector(), version
    )
    assert res.gallery is not None and not res.problems, res.problems
    res.gallery.save(out)
    return out.read_bytes()
