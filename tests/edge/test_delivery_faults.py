"""Durable delivery under faults, against a real mosquitto configured from
config/mosquitto/jaywatch.acl with per-device passwords and TLS.

Central is the stand-in acker (tests/edge/transport/acker.py): it stores each event once
by event id and acks, as the real ingest does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge.keys import generate_key_file, load_device_key
from edge.outbox import Outbox, RetryPolicy
from edge.transport import MqttLink
from jaywatch.wire import (
    ViolationEvent,
    ack_topic,
    generate_device_key,
    parse_message,
    public_key_bytes,
    sign_message,
    verify_message,
    violation_topic,
)
from tests.edge.transport.acker import (
    Acker,
    broker_config,
    event_id_for,
    make_event,
    wait_until,
)

pytestmark = [pytest.mark.broker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ACL = (REPO / "config/mosquitto/jaywatch.acl").read_text()
PASSWORDS = {"central": "central-pw", "gw-a": "a-pw", "gw-b": "b-pw"}


@pytest.fixture
def secure_broker(make_broker):
    return make_broker(passwords=PASSWORDS, acl=ACL, tls=True)


@pytest.fixture
def keys() -> dict:
    return {d: generate_device_key() for d in ("gw-a", "gw-b")}


def _acker(b, keys: dict, **kw) -> Acker:
    return Acker(
        b.host,
        b.port,
        {d: public_key_bytes(k) for d, k in keys.items()},
        username="central",
        password=PASSWORDS["central"],
        cafile=b.cafile,
        **kw,
    )


def _broker_cfg(b, tmp_path: Path, device: str):
    pw = tmp_path / f"{device}.password"
    pw.write_text(PASSWORDS[device] + "\n")
    return broker_config(b, password_file=pw)


@pytest.mark.timeout(90)
def test_500_events_across_a_broker_outage_are_stored_once(secure_broker, tmp_path, keys) -> None:
    """Broker SIGKILLed (losing what it had not saved) while events keep coming; after it
    returns, central has every event exactly once and the outbox is empty."""
    acker = _acker(secure_broker, keys).start()
    key = keys["gw-a"]
    with Outbox(tmp_path / "o.sqlite", retry=RetryPolicy(base_s=2.0, max_s=4.0)) as ob:
        link = MqttLink("gw-a", _broker_cfg(secure_broker, tmp_path, "gw-a"), ob, device_key=key)
        link.start()
        assert link.wait_connected(10)
        events = [make_event("gw-a", f"cam{i % 4}", key, i) for i in range(500)]
        for ev in events[:100]:
            ob.put_event(ev)
        secure_broker.kill()
        for ev in events[100:]:
            ob.put_event(ev)
        wait_until(lambda: not link.connected, 5, "the link to notice the outage")
        time.sleep(1.5)  # down for a while; the link keeps retrying the connection
        assert ob.depth() >= 400  # nothing can be acked while the broker is down
        secure_broker.start()
        wait_until(lambda: ob.depth() == 0, 60, "outbox to drain after the outage")
        link.stop()
    wait_until(lambda: len(acker.store) == 500, 10, "central store")
    assert set(acker.store) == {e.event_id for e in events}
    assert acker.stored_acks == 500  # each stored once; resends were answered "duplicate"
    assert not acker.rejected
    acker.stop()


@pytest.mark.timeout(120)
def test_kill9_of_the_edge_process_loses_nothing_and_doubles_nothing(
    secure_broker, tmp_path, keys
) -> None:
    keyfile = tmp_path / "gw-a.key"
    key = generate_key_file(keyfile)
    keys = {**keys, "gw-a": key}
    acker = _acker(secure_broker, keys).start()
    cfg = _broker_cfg(secure_broker, tmp_path, "gw-a").model_dump_json()
    n = 400

    def run(start: int, interval: float) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.edge.transport.edge_proc", "--device", "gw-a",
             "--key", str(keyfile), "--outbox", str(tmp_path / "o.sqlite"), "--broker", cfg,
             "--start", str(start), "--stop", str(n), "--interval", str(interval)],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    p = run(0, 0.02)  # ~8 s of production: the kill lands mid-stream
    durable: list[int] = []
    assert p.stdout is not None
    for line in p.stdout:
        durable.append(int(line.split()[1]))
        if len(durable) == 100:
            break
    wait_until(lambda: len(acker.store) > 0, 30, "first deliveries before the kill")
    os.kill(p.pid, signal.SIGKILL)
    p.wait(10)
    durable += [int(line.split()[1]) for line in p.stdout.read().splitlines()]
    assert durable == list(range(len(durable)))
    # the last will: the broker announces the vanished gateway as offline
    wait_until(lambda: "gw-a" in acker.statuses and not acker.statuses["gw-a"].online, 15, "will")
    assert 0 < len(acker.store) < n  # it really died mid-stream, after delivering some

    p2 = run(len(durable), 0.0)  # resumes; an id it had put but not printed is re-put (ignored)
    out, _ = p2.communicate(timeout=90)
    assert p2.returncode == 0 and "DRAINED" in out
    every = {event_id_for("gw-a", i) for i in range(n)}
    wait_until(lambda: len(acker.store) == n, 10, "central store")
    assert set(acker.store) == every
    assert acker.stored_acks == n
    with Outbox(tmp_path / "o.sqlite") as ob:
        assert ob.depth() == 0
    acker.stop()


@pytest.mark.timeout(90)
def test_central_down_outbox_grows_then_drains_when_central_returns(
    secure_broker, tmp_path, keys
) -> None:
    """Central has no session at the broker: everything published meanwhile is discarded
    by the broker (PUBACKed all the same). Only the outbox's resends get it there."""
    key = keys["gw-a"]
    with Outbox(tmp_path / "o.sqlite", retry=RetryPolicy(base_s=0.3, max_s=1.5)) as ob:
        link = MqttLink(
            "gw-a", _broker_cfg(secure_broker, tmp_path, "gw-a"), ob, device_key=key,
            window_per_camera=16,
        )  # fmt: skip
        link.start()
        assert link.wait_connected(10)
        events = [make_event("gw-a", f"cam{i % 2}", key, i) for i in range(200)]
        for ev in events:
            ob.put_event(ev)
        wait_until(lambda: link.stats.resent >= 32, 20, "resends while central is down")
        assert ob.depth() == 200  # grew, nothing lost, nothing acked
        assert max(e.attempts for e in ob.entries()) >= 2
        assert min(e.attempts for e in ob.entries()) == 0  # beyond the window: not yet sent
        acker = _acker(secure_broker, keys).start()
        wait_until(lambda: ob.depth() == 0, 40, "outbox to drain after central returns")
        link.stop()
    assert set(acker.store) == {e.event_id for e in events}
    assert acker.stored_acks == 200
    acker.stop()


@pytest.mark.timeout(60)
def test_device_cannot_publish_as_another_nor_read_its_acks(secure_broker, tmp_path, keys) -> None:
    acker = _acker(secure_broker, keys).start()
    ka, kb = keys["gw-a"], keys["gw-b"]
    ob = Outbox(tmp_path / "a.sqlite")
    link_a = MqttLink("gw-a", _broker_cfg(secure_broker, tmp_path, "gw-a"), ob, device_key=ka)
    link_a.start()
    assert link_a.wait_connected(10)

    # gw-b: a raw MQTT 5 client with its own (valid) credentials, trying to misbehave
    got: list[mqtt.MQTTMessage] = []
    puback: dict[int, object] = {}
    subscribed = threading.Event()
    b = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="gw-b", protocol=mqtt.MQTTv5)
    b.username_pw_set("gw-b", PASSWORDS["gw-b"])
    b.tls_set(ca_certs=str(secure_broker.cafile))
    b.on_message = lambda _c, _u, m: got.append(m)
    b.on_publish = lambda _c, _u, mid, rc, _p: puback.__setitem__(mid, rc)
    b.on_subscribe = lambda *_a: subscribed.set()
    b.connect(secure_broker.host, secure_broker.port)
    b.loop_start()
    b.subscribe([(ack_topic("gw-a"), 1), ("jaywatch/v1/+/ack", 1)])
    assert subscribed.wait(10)

    forged = make_event("gw-a", "cam0", kb, 1)  # claims gw-a, on gw-a's topic
    info = b.publish(violation_topic("gw-a"), forged.model_dump_json(), qos=1)
    info.wait_for_publish(5)
    own = make_event("gw-b", "cam0", kb, 2)
    b.publish(violation_topic("gw-b"), own.model_dump_json(), qos=1).wait_for_publish(5)
    # the device's own event arrives (and is acked to it): the forged one was sent first
    wait_until(lambda: own.event_id in acker.store, 10, "gw-b's own event")
    assert puback[info.mid].is_failure  # MQTT 5: "Not authorized"
    assert forged.event_id not in {e.event_id for e in acker.arrivals}

    ev_a = make_event("gw-a", "cam0", ka, 3)
    ob.put_event(ev_a)
    wait_until(lambda: ob.depth() == 0, 10, "gw-a's ack")
    wait_until(lambda: any(m.topic == ack_topic("gw-b") for m in got), 10, "gw-b's own ack")
    acks = [parse_message(m.payload) for m in got]
    assert {a.device_id for a in acks} == {"gw-b"}  # type: ignore[attr-defined]
    assert ev_a.event_id not in {a.event_id for a in acks}  # type: ignore[attr-defined]

    # and a device with a wrong password is not let in at all
    refused: list[object] = []
    bad = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="gw-a-x", protocol=mqtt.MQTTv5)
    bad.username_pw_set("gw-a", "wrong")
    bad.tls_set(ca_certs=str(secure_broker.cafile))
    bad.on_connect = lambda _c, _u, _f, rc, _p: refused.append(rc)
    bad.connect(secure_broker.host, secure_broker.port)
    bad.loop_start()
    wait_until(lambda: bool(refused), 10, "CONNACK")
    bad.loop_stop()
    assert refused[0].is_failure  # type: ignore[attr-defined]

    b.loop_stop()
    b.disconnect()
    link_a.stop()
    ob.close()
    acker.stop()


@pytest.mark.timeout(60)
def test_a_tampered_event_is_rejected_and_quarantined(secure_broker, tmp_path, keys) -> None:
    acker = _acker(secure_broker, keys).start()
    key = keys["gw-a"]
    good = make_event("gw-a", "cam0", key, 1, jpeg=b"\xff\xd8 evidence \xff\xd9")
    body = json.loads(good.model_dump_json())
    body["signal"]["red_for_s"] = 0.1  # e.g. someone shortening time-since-red
    tampered = ViolationEvent.model_validate(body)
    assert verify_message(good, public_key_bytes(key))
    assert not verify_message(tampered, public_key_bytes(key))
    assert not verify_message(sign_message(good, generate_device_key()), public_key_bytes(key))

    with Outbox(tmp_path / "o.sqlite") as ob:
        link = MqttLink("gw-a", _broker_cfg(secure_broker, tmp_path, "gw-a"), ob, device_key=key)
        link.start()
        ob.put(tampered.event_id, "cam0", tampered.model_dump_json().encode())
        other = make_event("gw-a", "cam0", key, 2)
        ob.put_event(other)
        wait_until(lambda: ob.depth() == 0, 15, "central's answers")
        link.stop()
        assert ob.rejected_count() == 1  # kept for inspection, no longer resent
    assert tampered.event_id in acker.rejected
    assert set(acker.store) == {other.event_id}
    acker.stop()


def test_key_file_used_by_the_edge_matches_what_central_verifies(tmp_path) -> None:
    k = generate_key_file(tmp_path / "k.pem")
    ev = make_event("gw-a", "cam0", load_device_key(tmp_path / "k.pem"), 0)
    assert verify_message(ev, public_key_bytes(k))
