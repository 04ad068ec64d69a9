"""Shared parts of the end-to-end tests: the shipped broker ACL with passwords, the real
central ingest (IngestWorker into SQLite/PostgreSQL), gateway config files, and reading
back what central stored (with each event's signature re-checked from the evidence store).
"""

from __future__ import annotations

import base64
import json
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
    """mosquitto with a password per user and the ACL shipped in config/mosquitto."""
    return make_broker(passwords=PASSWORDS, acl=ACL, tls=tls)


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
        return wire.ViolationEvent.model_validate(body)


def camera_yaml(scene: str, out: Path, **override: Any) -> Path:
    """A copy of a sample scene's camera.yaml with an absolute source (and overrides)."""
    data = yaml.safe_load((SCENES / scene / "camera.yaml").read_text())
    data["source"] = str(SCENES / scene / "video.mp4")
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
