"""The fault tests' rig: a mosquitto with passwords and the shipped ACL, central's real
ingest as a child process (``jaywatch central serve --no-api``, killable with -9), the
fault publisher (tests/faults/publisher.py) as another, and reads of what central stored.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
import yaml

from central.config import load_config
from central.context import Context
from central.workflow.common import SYSTEM
from central.workflow.devices import register_device
from central.workflow.persons import enrol
from edge.keys import generate_key_file
from jaywatch import wire
from tests.central.helpers import SUPERVISOR
from tests.faults.publisher import PERSON, event_id
from tests.services import Broker

REPO = Path(__file__).resolve().parents[2]
ACL = (REPO / "config" / "mosquitto" / "jaywatch.acl").read_text()
DEVICE = "gw-f"
PASSWORDS = {"central": "central-pw", DEVICE: "gw-f-pw"}
PHONE = "+447911123456"


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    if not cond():
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def fault_broker(make_broker: Callable[..., Broker]) -> Broker:
    return make_broker(passwords=PASSWORDS, acl=ACL)


@dataclass
class Rig:
    """One gateway (key + outbox) and one central (config + database) on ``broker``."""

    tmp: Path
    broker: Broker
    db_url: str
    procs: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key_file = self.tmp / "device.key"
        self.key = generate_key_file(self.key_file)
        self.outbox = self.tmp / "outbox.sqlite"
        self.central_yaml = self.tmp / "central.yaml"
        self.central_yaml.write_text(
            yaml.safe_dump(
                {
                    "database_url": self.db_url,
                    "evidence_dir": str(self.tmp / "evidence"),
                    "fines_file": str(REPO / "config" / "fines.yaml"),
                    "mqtt": {
                        "host": self.broker.host,
                        "port": self.broker.port,
                        "username": "central",
                        "password": PASSWORDS["central"],
                        "client_id": "central-fault",
                    },
                    "ingest": {"batch_max": 100},
                    # about faults, not four-eyes: one confirmation fines at once
                    "review": {"second_reviewer": "never", "undo_window_s": 0},
                }
            )
        )
        ctx = self.context()
        try:
            with ctx.sessions.begin() as s:
                register_device(s, SYSTEM, DEVICE, wire.public_key_bytes(self.key), "fault st")
                enrol(s, SUPERVISOR, ctx.rules, PHONE, "test", "Fault Person", PERSON)
        finally:
            ctx.close()
        (self.tmp / "mqtt.password").write_text(PASSWORDS[DEVICE] + "\n")

    def context(self) -> Context:
        return Context.from_config(load_config(self.central_yaml))

    # --- processes ------------------------------------------------------------------------

    def _spawn(self, argv: list[str], log: str, **kw: object) -> subprocess.Popen:
        p = subprocess.Popen(
            argv,
            cwd=REPO,
            stderr=(self.tmp / log).open("ab"),
            start_new_session=True,
            **kw,  # type: ignore[arg-type]
        )
        self.procs.append(p)
        return p

    def start_central(self) -> subprocess.Popen:
        env = {**os.environ, "JAYWATCH_CENTRAL_CONFIG": str(self.central_yaml)}
        argv = [sys.executable, "-m", "jaywatch_app.cli", "central", "serve", "--no-api"]
        return self._spawn(argv, "central.log", env=env, stdout=subprocess.DEVNULL)

    def broker_json(self) -> str:
        from edge.gateway_config import BrokerConfig

        return BrokerConfig(
            host=self.broker.host,
            port=self.broker.port,
            tls=False,
            password_file=self.tmp / "mqtt.password",
            reconnect_min_s=0.5,
            reconnect_max_s=1.0,
            keepalive_s=10,
        ).model_dump_json()

    def start_publisher(self, start: int, stop: int, *extra: str) -> subprocess.Popen:
        argv = [
            sys.executable, "-m", "tests.faults.publisher", "--device", DEVICE,
            "--key", str(self.key_file), "--outbox", str(self.outbox),
            "--broker", self.broker_json(), "--start", str(start), "--stop", str(stop), *extra,
        ]  # fmt: skip
        return self._spawn(argv, "publisher.log", stdout=subprocess.PIPE, text=True)

    def kill9(self, p: subprocess.Popen) -> None:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)

    # --- what central holds ---------------------------------------------------------------

    def scalar(self, q: sa.Select) -> int:
        eng = sa.create_engine(self.db_url)
        try:
            with eng.connect() as c:
                return c.execute(q).scalar_one()
        finally:
            eng.dispose()

    def stored(self) -> int:
        from central.store.models import Event

        return self.scalar(sa.select(sa.func.count()).select_from(Event))

    def event_ids(self) -> list[str]:
        from central.store.models import Event

        eng = sa.create_engine(self.db_url)
        try:
            with eng.connect() as c:
                return list(c.execute(sa.select(Event.event_id)).scalars())
        finally:
            eng.dispose()


def expected_ids(n: int) -> set[str]:
    return {event_id(DEVICE, i) for i in range(n)}


def read_puts(p: subprocess.Popen, until: int | None = None) -> list[int]:
    """Indices the publisher reported durable (reads until ``until`` of them, or EOF)."""
    assert p.stdout is not None
    out: list[int] = []
    for line in p.stdout:
        if line.startswith("PUT "):
            out.append(int(line.split()[1]))
            if until is not None and len(out) >= until:
                break
    return out
