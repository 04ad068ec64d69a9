"""A hostile device against the broker we ship: mosquitto started from
config/mosquitto/mosquitto.conf (dynamic-security plugin, TLS), its logins and rules made
exactly as a deployer makes them (`jaywatch central broker init`, the mosquitto_ctrl
lines `jaywatch central broker user central` and `jaywatch central device add` print),
and central as it runs: two `jaywatch central serve` processes (config from
config/central.example.yaml) with their own client ids in one $share group.

While gw-a sends 40 signed events (each published ONCE, QoS 1: a lost one stays lost),
gw-b, with its own valid login, on MQTT 5 and 3.1.1:
  * joins central's shared group ($share/central/jaywatch/v1/+/violation, …/status);
  * logs in with central's client id (over and over), and with gw-a's;
  * subscribes to central's topics, to gw-a's acks and to everything (#).
Every case: all 40 stored, each once; gw-b receives nothing; no central worker was
disconnected. Before (password_file + acl_file): one $share subscription → 20 of 40
stored, central's client id → central kicked off and events lost (issue 12).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from jaywatch import wire
from jaywatch.broker_acl import find_dynsec_plugin
from tests.integration.helpers import wait_until
from tests.services import MOSQUITTO, example_payments, free_port, make_test_ca, wait_port

pytestmark = [pytest.mark.broker, pytest.mark.timeout(240)]
REPO = Path(__file__).resolve().parents[2]
ADMIN = ("admin", "broker-admin-pw")
N = 40
CENTRAL_IDS = ("central-1", "central-2")


def _jaywatch(*args: str, env: dict[str, str] | None = None) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "jaywatch_app.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    assert r.returncode == 0, f"jaywatch {' '.join(args)}: {r.stderr}"
    return r.stdout


def _run_ctrl_lines(text: str, port: int, ca: Path) -> None:
    """Run the printed mosquitto_ctrl lines as a deployer does, with the connection
    options of the dynsec admin added."""
    lines = [ln for ln in text.splitlines() if ln.startswith("mosquitto_ctrl ")]
    assert lines, text
    opts = ["-h", "127.0.0.1", "-p", str(port), "--cafile", str(ca)]
    opts += ["-u", ADMIN[0], "-P", ADMIN[1]]
    for ln in lines:
        argv = shlex.split(ln)
        r = subprocess.run([argv[0], *opts, *argv[1:]], capture_output=True, text=True)
        assert r.returncode == 0 and "Error" not in r.stdout, (ln, r.stdout, r.stderr)


def _printed(text: str, key: str) -> str:
    m = re.search(rf"^#? ?mqtt {key}: (\S+)$", text, re.M)
    assert m, text
    return m[1]


@dataclass
class Site:
    port: int
    ca: Path
    db: Path
    passwords: dict[str, str]
    keys: dict[str, object]
    logs: list[Path]

    def stored_ids(self) -> set[str]:
        with contextlib.closing(sqlite3.connect(self.db, timeout=10)) as c:
            return {r[0] for r in c.execute("SELECT event_id FROM events")}

    def client(
        self, user: str, client_id: str, proto: int = mqtt.MQTTv5, *, wait: bool = True
    ) -> Client:
        return Client(self, user, client_id, proto, wait)

    def central_connects(self) -> int:
        """How often the ingest workers (re)connected, from their own logs."""
        return sum(len(re.findall(r"ingest \S+ connected", p.read_text())) for p in self.logs)


class Client:
    def __init__(self, site: Site, user: str, client_id: str, proto: int, wait: bool) -> None:
        self.got: list[str] = []
        self.subacks: list[list[str]] = []
        self.connack: str | None = None
        self._sub = threading.Event()
        self._conn = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=proto)
        self.c.username_pw_set(user, site.passwords[user])
        self.c.tls_set(ca_certs=str(site.ca))
        self.c.on_message = lambda _c, _u, m: self.got.append(m.topic)
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = self._on_subscribe
        self.c.reconnect_delay_set(0.05, 0.2)
        self.c.connect_async("127.0.0.1", site.port)
        self.c.loop_start()
        if wait:
            assert self._conn.wait(10), f"{user}/{client_id}: no CONNACK"

    def _on_connect(self, _c: object, _u: object, _f: object, rc: object, _p: object) -> None:
        self.connack = str(rc)
        self._conn.set()

    def _on_subscribe(self, _c: object, _u: object, _m: object, rcs: list, _p: object) -> None:
        self.subacks.append([str(r) for r in rcs])
        self._sub.set()

    def subscribe(self, topic: str) -> list[str]:
        self._sub.clear()
        self.c.subscribe(topic, qos=1)
        assert self._sub.wait(10), f"no SUBACK for {topic}"
        return self.subacks[-1]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _central_yaml(tmp: Path, port: int, ca: Path, pw: str, client_id: str, http: int) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "central.example.yaml").read_text())
    cfg["database_url"] = f"sqlite:///{tmp / 'central.db'}"
    cfg["evidence_dir"] = str(tmp / "evidence")
    cfg["fines_file"] = str(REPO / "config" / "fines.yaml")
    cfg["broker_acl_file"] = str(REPO / "config" / "mosquitto" / "jaywatch.acl")
    cfg["mqtt"].update(host="127.0.0.1", port=port, username="central", password=pw)
    cfg["mqtt"]["ca_file"] = str(ca)
    cfg["mqtt"]["client_id"] = client_id
    cfg["api"].update(secure_cookies=False, base_url=f"http://127.0.0.1:{http}")
    example_payments(cfg, tmp)
    path = tmp / f"{client_id}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _shipped_broker_conf(tmp: Path, port: int) -> Path:
    conf = (REPO / "config" / "mosquitto" / "mosquitto.conf").read_text()
    plugin = find_dynsec_plugin()
    assert plugin, "mosquitto's dynamic-security plugin is not installed"
    for old, new in {
        "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so": plugin,
        "/var/lib/mosquitto/dynamic-security.json": str(tmp / "dynamic-security.json"),
        "/etc/mosquitto/certs/": f"{tmp}/",
        "/var/lib/mosquitto/": f"{tmp}/",
        "listener 8883": f"listener {port} 127.0.0.1",
        "log_dest syslog": f"log_dest file {tmp}/mosquitto.log",
    }.items():
        assert old in conf, old
        conf = conf.replace(old, new)
    path = tmp / "mosquitto.conf"
    path.write_text(conf + "user root\n")
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("broker-attacks")
    port = free_port()
    ca = make_test_ca(tmp)
    env = {"JAYWATCH_BROKER_ADMIN_PASSWORD": ADMIN[1]}
    _jaywatch("central", "broker", "init", str(tmp / "dynamic-security.json"), env=env)
    broker = subprocess.Popen([MOSQUITTO, "-c", str(_shipped_broker_conf(tmp, port))])
    procs: list[subprocess.Popen] = []
    try:
        wait_port("127.0.0.1", port)
        # central's login as docs/deployment.md makes it: deploy/mosquitto/add-user.sh with
        # the dynsec admin's options in mosquitto_ctrl's config file.
        xdg = tmp / "xdg"
        xdg.mkdir()
        (xdg / "mosquitto_ctrl").write_text(
            f"-h 127.0.0.1\n-p {port}\n--cafile {ca}\n-u {ADMIN[0]}\n-P {ADMIN[1]}\n"
        )
        bindir = str(Path(sys.executable).parent)  # the venv's `jaywatch`
        r = subprocess.run(
            ["bash", str(REPO / "deploy" / "mosquitto" / "add-user.sh"), "central"],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={
                **os.environ,
                "XDG_CONFIG_HOME": str(xdg),
                "PATH": f"{bindir}:{os.environ['PATH']}",
            },
            timeout=60,
        )
        assert r.returncode == 0 and "Error" not in r.stdout, (r.stdout, r.stderr)
        passwords = {"central": r.stdout.strip().splitlines()[-1]}
        http = [free_port(), free_port()]
        cfgs = [
            _central_yaml(tmp, port, ca, passwords["central"], cid, h)
            for cid, h in zip(CENTRAL_IDS, http, strict=True)
        ]
        _jaywatch("central", "--config", str(cfgs[0]), "migrate")
        keys = {}
        for dev in ("gw-a", "gw-b"):
            keys[dev] = wire.generate_device_key()
            pub = wire.public_key_bytes(keys[dev]).hex()
            out = _jaywatch(
                "central", "--config", str(cfgs[0]), "device", "add", dev, "--public-key", pub,
                "--camera", "cam-1=test",
            )  # fmt: skip
            _run_ctrl_lines(out, port, ca)
            passwords[dev] = _printed(out, "password")
        logs = []
        for cfg, h, extra in ((cfgs[0], http[0], []), (cfgs[1], http[1], ["--no-api"])):
            log = tmp / f"{cfg.stem}.log"
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "jaywatch_app.cli", "central", "--config", str(cfg),
                     "serve", "--port", str(h), *extra],
                    cwd=REPO, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        s = Site(port, ca, tmp / "central.db", passwords, keys, logs)
        wait_until(lambda: s.central_connects() >= 2, 60, "both ingest workers connected")
        yield s
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        broker.terminate()
        broker.wait(10)


def _event(key: object, frame: int) -> wire.ViolationEvent:
    ev = wire.ViolationEvent(
        device_id="gw-a",
        camera_id="cam-1",
        occurred=wire.utcnow(),
        t=frame / 10,
        frame=frame,
        track_id=frame,
        bbox=(10.0, 20.0, 60.0, 140.0),
        signal=wire.SignalEvidence(phase="red", red_for_s=3.0),
        zone=[(0.0, 0.0), (100.0, 0.0), (100.0, 100.0)],
        grace_s=0.5,
    )
    return wire.sign_message(ev, key)  # type: ignore[arg-type]


def _send_40(site: Site, during: threading.Event | None = None) -> set[str]:
    """gw-a publishes N events once each; returns their ids."""
    gw = site.client("gw-a", "gw-a")
    ids = set()
    try:
        for i in range(N):
            ev = _event(site.keys["gw-a"], i)
            info = gw.c.publish(wire.violation_topic("gw-a"), ev.model_dump_json(), qos=1)
            info.wait_for_publish(10)
            assert info.rc == mqtt.MQTT_ERR_SUCCESS
            ids.add(ev.event_id)
            time.sleep(0.02)  # spread over the attack
    finally:
        gw.close()
    return ids


PROTOCOLS = {"mqtt5": mqtt.MQTTv5, "mqtt311": mqtt.MQTTv311}
REFUSED = {"Not authorized", "Unspecified error"}  # MQTT 5 / 3.1.1 (0x80) SUBACK failure


@pytest.mark.parametrize("proto", list(PROTOCOLS))
def test_a_device_cannot_join_centrals_shared_group(site: Site, proto: str) -> None:
    before = site.central_connects()
    att = site.client("gw-b", "gw-b", PROTOCOLS[proto])
    try:
        for t in wire.VIOLATION_WILDCARD, wire.STATUS_WILDCARD:
            for group in ("central", "other"):
                assert set(att.subscribe(wire.shared_subscription(t, group))) <= REFUSED
        ids = _send_40(site)
        wait_until(lambda: ids <= site.stored_ids(), 30, "all 40 events stored")
        assert att.got == []
        assert site.central_connects() == before
    finally:
        att.close()


@pytest.mark.parametrize("proto", list(PROTOCOLS))
def test_a_device_cannot_read_centrals_or_other_devices_topics(site: Site, proto: str) -> None:
    att = site.client("gw-b", "gw-b", PROTOCOLS[proto])
    try:
        for t in (
            wire.VIOLATION_WILDCARD,
            wire.violation_topic("gw-a"),
            wire.ack_topic("gw-a"),
            wire.status_topic("gw-a"),
            "jaywatch/v1/#",
            "#",
        ):
            assert set(att.subscribe(t)) <= REFUSED, t
        ids = _send_40(site)
        wait_until(lambda: ids <= site.stored_ids(), 30, "all 40 events stored")
        time.sleep(0.5)  # acks to gw-a went out meanwhile
        assert att.got == []
        # Its own ack topic and the public ones stay open to it.
        assert att.subscribe(wire.ack_topic("gw-b")) == ["Granted QoS 1"]
    finally:
        att.close()


@pytest.mark.parametrize("proto", list(PROTOCOLS))
def test_a_device_cannot_take_centrals_or_another_devices_client_id(site: Site, proto: str) -> None:
    before = site.central_connects()
    stop = threading.Event()
    answers: list[str | None] = []

    def hammer() -> None:  # log in as central's workers and as gw-a, again and again
        while not stop.is_set():
            for cid in (*CENTRAL_IDS, "gw-a"):
                c = site.client("gw-b", cid, PROTOCOLS[proto])  # waits for the CONNACK
                answers.append(c.connack)
                c.close()

    t = threading.Thread(target=hammer)
    t.start()
    try:
        ids = _send_40(site)
    finally:
        stop.set()
        t.join(10)
    wait_until(lambda: ids <= site.stored_ids(), 30, "all 40 events stored")
    assert len(answers) >= 6
    assert all(a != "Success" for a in answers), answers  # every attempt refused at CONNECT
    assert site.central_connects() == before  # no worker was kicked off
