"""The shipped central process for end-to-end tests: ``jaywatch central --config FILE serve``
as a child process, FILE being config/central.example.yaml with only the paths, the
broker address and credentials, a signing key and the HTTP port changed; a mosquitto
with passwords and the shipped ACL; gateways as plain MQTT clients logged in as
themselves (a hostile gateway has its own valid credentials and key).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import sqlalchemy as sa
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from central.config import load_config
from central.context import Context
from central.workflow.common import SYSTEM
from central.workflow.devices import register_device
from central.workflow.users import create_user
from jaywatch import wire
from jaywatch.keys import generate_key_file
from tests.services import Broker, example_payments, free_port

REPO = Path(__file__).resolve().parents[2]
ACL = (REPO / "config" / "mosquitto" / "jaywatch.acl").read_text()
STAFF_PASSWORD = "staff password 123"


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    if not cond():
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def acl_broker(make_broker: Callable[..., Broker], devices: list[str]) -> Broker:
    """The shipped rules as the shipped broker applies them (dynamic-security plugin)."""
    passwords = {"central": "central-pw", **{d: f"{d}-pw" for d in devices}}
    return make_broker(passwords=passwords, dynsec_acl=ACL)


@dataclass
class CentralServe:
    """``jaywatch central serve`` (ingest + API) on ``broker``, database ``db_url``."""

    tmp: Path
    broker: Broker
    db_url: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    serve_args: list[str] = field(default_factory=list)  # e.g. ["--notices-config", FILE]
    # What a test changes in the shipped config: a section key by key (e.g. {"review":
    # {...}}), a top-level value replaced (e.g. {"evidence_dir": ...}).
    overrides: dict[str, Any] = field(default_factory=dict)
    payments_api_url: str | None = None  # the checkout provider (a FakeProvider's url)

    def __post_init__(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.key = generate_key_file(self.tmp / "central.key")
        cfg: dict[str, Any] = yaml.safe_load((REPO / "config" / "central.example.yaml").read_text())
        cfg.update(
            database_url=self.db_url,
            evidence_dir=str(self.tmp / "evidence"),
            fines_file=str(REPO / "config" / "fines.yaml"),
            signing_key_file=str(self.tmp / "central.key"),
        )
        cfg["mqtt"].update(
            host=self.broker.host,
            port=self.broker.port,
            username="central",
            password=self.broker.passwords["central"] if self.broker.passwords else None,
        )
        cfg["api"].update(secure_cookies=False, base_url=f"http://127.0.0.1:{self.port}")
        example_payments(cfg, self.tmp, self.payments_api_url)
        for key, value in self.overrides.items():
            if isinstance(value, dict):
                cfg[key].update(value)
            else:
                cfg[key] = value
        self.config = self.tmp / "central.yaml"
        self.config.write_text(yaml.safe_dump(cfg))
        self.url = f"http://127.0.0.1:{self.port}"

    def context(self) -> Context:
        return Context.from_config(load_config(self.config))

    def setup(self, devices: dict[str, Ed25519PrivateKey], users: dict[str, str]) -> None:
        """Register ``devices`` (id → key; one camera ``cam-1`` each) and staff ``users``
        (name → role), as ``central device add`` / ``user add`` would."""
        ctx = self.context()
        try:
            with ctx.sessions.begin() as s:
                for d, k in devices.items():
                    register_device(
                        s, SYSTEM, d, wire.public_key_bytes(k), f"{d} st", {"cam-1": "x"}
                    )
                for name, role in users.items():
                    create_user(s, SYSTEM, name, STAFF_PASSWORD, role)
        finally:
            ctx.close()

    def start(self) -> CentralServe:
        argv = [sys.executable, "-m", "jaywatch_app.cli", "central", "--config", str(self.config)]
        argv += ["serve", "--port", str(self.port), *self.serve_args]
        log = (self.tmp / "central.log").open("ab")
        self.proc = subprocess.Popen(
            argv, cwd=REPO, stdout=log, stderr=log, start_new_session=True, env=os.environ.copy()
        )
        wait_until(self._up, 60, "central serve to answer /api/health with 200")
        return self

    def _up(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"central serve exited {self.proc.returncode}: {self.log()}")
        try:
            return httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def log(self) -> str:
        p = self.tmp / "central.log"
        return p.read_text(errors="replace")[-4000:] if p.exists() else ""

    def health(self) -> httpx.Response:
        return httpx.get(f"{self.url}/api/health", timeout=10)

    def bearer(self, username: str) -> dict[str, str]:
        r = httpx.post(
            f"{self.url}/api/auth/login",
            json={"username": username, "password": STAFF_PASSWORD},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def console(self, username: str) -> httpx.Client:
        """A browser-like client logged in to the console (session cookie)."""
        c = httpx.Client(base_url=self.url, timeout=30)
        r = c.post("/console/login", data={"username": username, "password": STAFF_PASSWORD})
        assert r.status_code in (200, 303), r.text
        return c

    def confirmed_fine(
        self, device_key: Ed25519PrivateKey, phone: str = "+44 7911 123456", operator: str = "olive"
    ) -> dict[str, Any]:
        """A violation of a newly enrolled person, stored as ingest stores it (signed by
        ``device_key``, registered as gw-1) and confirmed by ``operator`` through the API:
        the fine's JSON. Needs a config that fines on one confirmation (no undo window)."""
        from central.ingest.classify import Incoming, KeyCache, classify
        from central.ingest.store import load_device_keys, store_batch
        from central.workflow.persons import enrol
        from tests.central.helpers import SUPERVISOR, violation

        ctx = self.context()
        try:
            with ctx.sessions.begin() as s:
                person = enrol(s, SUPERVISOR, ctx.rules, phone, "road traffic law art. 1")
            ev = violation(device_key, person_id=person.id)

            def device_keys() -> dict[str, bytes]:
                with ctx.sessions() as s:
                    return load_device_keys(s)

            msg = Incoming(wire.violation_topic("gw-1"), ev.model_dump_json().encode())
            with ctx.sessions.begin() as s:
                (out,) = store_batch(
                    s, [classify(msg, KeyCache(device_keys), 10_000_000)], ctx.evidence, 1024
                )
            assert out.status == "stored"
        finally:
            ctx.close()
        r = httpx.post(
            f"{self.url}/api/events/{ev.event_id}/confirm",
            headers=self.bearer(operator),
            timeout=30,
        )
        assert r.status_code == 200, r.text
        fine = r.json()["fine"]
        assert fine is not None, "the config must fine on one confirmation"
        return fine

    # --- what it stored -------------------------------------------------------------------

    def rows(self, q: sa.Select) -> list[Any]:
        eng = sa.create_engine(self.db_url)
        try:
            with eng.connect() as c:
                return list(c.execute(q).all())
        finally:
            eng.dispose()


class Gateway:
    """A gateway's MQTT session, logged in as itself; collects the acks central sends."""

    def __init__(self, broker: Broker, device_id: str) -> None:
        self.device_id = device_id
        self.acks: list[wire.Ack] = []
        self._lock = threading.Lock()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
        assert broker.passwords is not None
        self.c.username_pw_set(device_id, broker.passwords[device_id])
        self.c.on_message = self._on_message
        subscribed = threading.Event()
        self.c.on_subscribe = lambda *_a: subscribed.set()
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        self.c.subscribe(wire.ack_topic(device_id), qos=1)
        assert subscribed.wait(10), "ack subscription not granted"

    def _on_message(self, _c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        msg = wire.parse_message(m.payload)
        assert isinstance(msg, wire.Ack)
        with self._lock:
            self.acks.append(msg)

    def ack_for(self, event_id: str) -> wire.Ack | None:
        with self._lock:
            return next((a for a in self.acks if a.event_id == event_id), None)

    def publish(self, kind: str, payload: bytes | str) -> None:
        topic = f"{wire.TOPIC_ROOT}/{self.device_id}/{kind}"
        info = self.c.publish(topic, payload, qos=1)
        info.wait_for_publish(10)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()
