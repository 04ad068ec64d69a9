"""A central served by the shipped entry point for the evidence tests: ``jaywatch central
serve`` (config/central.example.yaml with temp paths), a real mosquitto, the CLI for
users and the gateway, and events published over MQTT as a gateway signs them."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import sqlalchemy as sa
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from central.config import load_config
from central.context import Context
from central.store.models import Event, Evidence, Notice
from jaywatch import wire
from jaywatch.keys import public_key_b64
from jaywatch_app.cli import main
from tests.central.web.world import ENTRY_PHOTO, FACE_BOX, PERSON_BOX, SCENE_PHOTO, jpeg_of
from tests.services import Broker, example_payments, free_port

REPO = Path(__file__).resolve().parents[3]
DEVICE = "gw-evidence"
USERS = {"olive": "operator", "sam": "supervisor", "aud": "auditor", "ada": "admin"}
PASSWORD = "evidence-test-pw-1"


def wait_until(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def example_config(tmp: Path, db_url: str, broker: Broker, port: int) -> Path:
    """config/central.example.yaml with this test's database, paths, broker and port."""
    cfg = yaml.safe_load((REPO / "config" / "central.example.yaml").read_text())
    cfg["database_url"] = db_url
    cfg["evidence_dir"] = str(tmp / "evidence")
    cfg["fines_file"] = str(REPO / "config" / "fines.yaml")
    cfg["mqtt"].update(host=broker.host, port=broker.port, client_id="central-evidence")
    cfg["api"].update(base_url=f"http://127.0.0.1:{port}", secure_cookies=False)
    example_payments(cfg, tmp)
    # These tests are about evidence, not four-eyes: one confirmation fines at once.
    cfg["review"].update(second_reviewer="never", undo_window_s=0)
    path = tmp / "central.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@dataclass
class Served:
    tmp: Path
    db_url: str
    broker: Broker
    port: int = field(default_factory=free_port)
    key: Any = field(default_factory=wire.generate_device_key)
    proc: subprocess.Popen | None = None
    person_id: str = ""
    sent: int = 0

    def __post_init__(self) -> None:
        self.config = example_config(self.tmp, self.db_url, self.broker, self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.ctx = Context.from_config(load_config(self.config))

    def cli(self, *args: str) -> int:
        return main(["central", "--config", str(self.config), *args])

    def start(self) -> Served:
        os.environ["JAYWATCH_PASSWORD"] = PASSWORD
        for user, role in USERS.items():
            assert self.cli("user", "add", user, "--role", role) == 0
        pub = public_key_b64(self.key)
        assert self.cli(
            "device", "add", DEVICE, "--public-key", pub, "--place", "Main St",
            "--camera", "cam-1=Main St / 5th Ave",
        ) == 0  # fmt: skip
        log = (self.tmp / "serve.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jaywatch_app.cli", "central", "--config", str(self.config),
             "serve", "--port", str(self.port)],
            cwd=REPO, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        wait_until(self._up, 60, "central serve answering")
        admin = self.api("ada")
        r = admin.post(
            "/api/persons",
            json={"phone": "+447911123456", "lawful_basis": "Road Traffic Act", "name": "Zed"},
        )
        assert r.status_code == 201, r.text
        self.person_id = r.json()["id"]
        return self

    def _up(self) -> bool:
        try:
            return httpx.get(self.url + "/api/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.ctx.close()

    # --- clients -------------------------------------------------------------------------

    def api(self, user: str) -> httpx.Client:
        r = httpx.post(self.url + "/api/auth/login", json={"username": user, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {r.json()['token']}"},
            timeout=30,
        )

    def console(self, user: str) -> httpx.Client:
        c = httpx.Client(base_url=self.url, timeout=30)
        r = c.post("/console/login", data={"username": user, "password": PASSWORD})
        assert r.status_code in (200, 303), r.text
        return c

    # --- events --------------------------------------------------------------------------

    def violation(self, matched: bool = True, clip: bool = False) -> wire.ViolationEvent:
        # Each event its own bytes (the store is content-addressed: equal images are one file).
        self.sent += 1
        q = 70 + self.sent
        images = (
            ("before", jpeg_of(SCENE_PHOTO, quality=q)),
            ("entry", jpeg_of(ENTRY_PHOTO, quality=q)),
            ("after", jpeg_of(SCENE_PHOTO, (0, 0, 400, 300), quality=q)),
            ("face", jpeg_of(ENTRY_PHOTO, FACE_BOX, quality=q)),
        )
        ev = wire.ViolationEvent(
            device_id=DEVICE,
            camera_id="cam-1",
            occurred=datetime.now(UTC) - timedelta(minutes=3),
            t=42.0,
            frame=1260,
            track_id=3,
            bbox=PERSON_BOX,
            signal=wire.SignalEvidence(phase="red", red_for_s=6.4, roi=(400, 20, 40, 90)),
            zone=[(0.0, 300.0), (480.0, 260.0), (480.0, 480.0), (0.0, 480.0)],
            grace_s=1.0,
            evidence=[
                wire.EvidenceImage(
                    role=r, frame=1259 + i, t=41.9 + i / 10, jpeg_b64=base64.b64encode(d).decode()
                )
                for i, (r, d) in enumerate(images)
            ],
            match=wire.MatchResult(person_id=self.person_id, score=0.9, backend="sface")
            if matched
            else None,
            clip=webm_clip(self.sent) if clip else None,
        )
        return wire.sign_message(ev, self.key)

    def publish(self, ev: wire.ViolationEvent) -> str:
        """Send as the gateway does (QoS 1, its violation topic) and wait until stored."""
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{ev.event_id[:8]}")
        c.connect(self.broker.host, self.broker.port)
        c.loop_start()
        try:
            info = c.publish(wire.violation_topic(DEVICE), ev.model_dump_json(), qos=1)
            info.wait_for_publish(10)
        finally:
            c.loop_stop()
            c.disconnect()
        wait_until(lambda: self.event(ev.event_id) is not None, 30, f"event {ev.event_id} stored")
        return ev.event_id

    def event(self, event_id: str) -> Event | None:
        with self.ctx.sessions() as s:
            return s.execute(sa.select(Event).where(Event.event_id == event_id)).scalar()

    def blob_path(self, event_id: str, role: str) -> Path:
        with self.ctx.sessions() as s:
            sha = s.execute(
                sa.select(Evidence.sha256)
                .join(Event, Event.id == Evidence.event_pk)
                .where(Event.event_id == event_id, Evidence.role == role)
            ).scalar_one()
        return Path(self.ctx.config.evidence_dir) / sha[:2] / sha[2:4] / sha

    def confirm_via_api(self, event_id: str) -> tuple[str, str]:
        """Confirm as the operator; returns (fine reference, the SMS's access code)."""
        r = self.api("olive").post(f"/api/events/{event_id}/confirm")
        assert r.status_code == 200, r.text
        ref = r.json()["fine"]["reference"]
        with self.ctx.sessions() as s:
            params = (
                s.execute(sa.select(Notice.params).where(Notice.kind == "fine_issued"))
                .scalars()
                .all()
            )
        (code,) = [p["access_code"] for p in params if p["reference"] == ref]
        return ref, code


def webm_clip(seed: int) -> wire.EvidenceClip:
    """A clip as the gateway sends it (central never decodes it: a WebM header, then bytes
    of this event's own)."""
    data = b"\x1a\x45\xdf\xa3" + hashlib.sha256(str(seed).encode()).digest() * 400
    return wire.EvidenceClip(
        sha256=hashlib.sha256(data).hexdigest(), size=len(data),
        webm_b64=base64.b64encode(data).decode(), fps=10, frames=41, frame_first=1240,
        frame_last=1280, t_first=40.0, t_last=44.0, utc_first=wire.utcnow(), width=640,
        height=480,
    )  # fmt: skip


def tamper(path: Path) -> bytes:
    """Overwrite a stored file in place with different bytes (same length); the original."""
    original = path.read_bytes()
    changed = bytearray(original)
    changed[len(changed) // 2] ^= 0xFF
    path.write_bytes(bytes(changed))
    assert hashlib.sha256(bytes(changed)).hexdigest() != path.name
    return original


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)
