"""Edge ↔ central over the demo's embedded broker (amqtt, MQTT 3.1.1 only).

The real edge link (outbox → MqttLink) and the real central ingest (IngestWorker into
SQLite), both with ``mqtt_version: "3.1.1"``, against amqtt started the way the demo
starts it (``python -m jaywatch_app.embedded_broker``, password file, loopback port).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa

from central.config import IngestSettings, MqttSettings
from central.gallery_announcer import publish_retained
from central.ingest.consumer import IngestWorker
from central.store.models import DeadLetter, Event
from central.workflow.common import SYSTEM
from central.workflow.devices import register_device
from edge.gateway_config import BrokerConfig
from edge.outbox import Outbox
from edge.transport.mqtt import MqttLink
from jaywatch import wire
from jaywatch_app.demo import free_port, wait_port
from jaywatch_app.embedded_broker import write_config
from tests.central.helpers import make_context
from tests.integration.helpers import PASSWORDS, wait_until

pytest.importorskip("amqtt")


@dataclass
class Amqtt:
    host: str
    port: int


@pytest.fixture
def amqtt_broker(tmp_path: Path) -> Iterator[Amqtt]:
    port = free_port()
    conf = write_config(tmp_path / "amqtt", port, PASSWORDS)
    log = (tmp_path / "amqtt.log").open("wb")
    p = subprocess.Popen(
        [sys.executable, "-m", "jaywatch_app.embedded_broker", str(conf)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_port(port, 20, p)
        yield Amqtt("127.0.0.1", port)
    finally:
        p.terminate()
        p.wait(10)
        log.close()


def _event(key: object) -> wire.ViolationEvent:
    ev = wire.ViolationEvent(
        device_id="gw-a",
        camera_id="cam-1",
        occurred=wire.utcnow(),
        t=1.0,
        frame=10,
        track_id=1,
        bbox=(1.0, 2.0, 30.0, 80.0),
        signal=wire.SignalEvidence(phase="red", red_for_s=3.0),
        zone=[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0)],
        grace_s=0.5,
    )
    return wire.sign_message(ev, key)  # type: ignore[arg-type]


def test_event_and_ack_cross_amqtt_with_mqtt_311(amqtt_broker: Amqtt, tmp_path: Path) -> None:
    """An event leaves the outbox, central stores it once and its ack empties the outbox;
    a gallery announcement (retained) reaches the edge; a restarted central worker is not
    fed amqtt's stray retained messages as events (no dead letters)."""
    b = amqtt_broker
    key = wire.generate_device_key()
    ctx = make_context(f"sqlite:///{tmp_path}/c.db", tmp_path / "central")
    with ctx.sessions.begin() as s:
        register_device(s, SYSTEM, "gw-a", wire.public_key_bytes(key), "test", {"cam-1": "x"})
    central_mqtt = MqttSettings(
        host=b.host,
        port=b.port,
        username="central",
        password=PASSWORDS["central"],
        client_id="central-amqtt",
        mqtt_version="3.1.1",
    )

    def start_worker() -> IngestWorker:
        w = IngestWorker(central_mqtt, IngestSettings(batch_max=50), ctx.sessions, ctx.evidence)
        return w.start(wait_connected=20)

    def count(model: type) -> int:
        with ctx.sessions() as s:
            return s.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()

    pw = tmp_path / "pw"
    pw.write_text(PASSWORDS["gw-a"])
    outbox = Outbox(tmp_path / "outbox.sqlite")
    edge_broker = BrokerConfig(
        host=b.host, port=b.port, tls=False, password_file=pw, mqtt_version="3.1.1"
    )
    link = MqttLink("gw-a", edge_broker, outbox, device_key=key)
    announced: list[bytes] = []
    link.subscribe(wire.GALLERY_TOPIC, lambda _t, payload: announced.append(payload))
    worker = start_worker()
    link.start()
    try:
        assert link.wait_connected(20), "the edge never connected over MQTT 3.1.1"
        first = _event(key)
        outbox.put_event(first)
        wait_until(lambda: outbox.depth() == 0, 30, "central's ack to empty the outbox")
        assert link.stats.acked == 1
        with ctx.sessions() as s:
            assert list(s.execute(sa.select(Event.event_id)).scalars()) == [first.event_id]

        gv = wire.GalleryAnnouncement(
            device_id="central", version="7", sha256="0" * 64, url="http://x/7"
        )
        publish_retained(central_mqtt, gv)
        wait_until(lambda: announced, 20, "the gallery announcement at the edge")
        assert wire.parse_message(announced[0]).version == "7"  # type: ignore[union-attr]

        # amqtt 0.12 sends a (re)connecting client the retained messages matching ANY
        # client's subscriptions: the worker must not take the gallery one for an event.
        worker.stop()
        worker = start_worker()
        second = _event(key)
        outbox.put_event(second)
        wait_until(lambda: outbox.depth() == 0, 30, "the second ack")
        assert count(Event) == 2
        assert count(DeadLetter) == 0
    finally:
        link.stop()
        worker.stop()
        outbox.close()
        ctx.close()


def test_embedded_broker_refuses_a_wrong_password(amqtt_broker: Amqtt) -> None:
    """The demo's embedded broker checks passwords like the demo's mosquitto does."""
    import threading

    results: dict[str, object] = {}
    done = threading.Event()

    for user, pw in (("gw-a", "wrong"), ("gw-a", PASSWORDS["gw-a"])):
        done.clear()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        c.username_pw_set(user, pw)

        def on_connect(_c, _u, _f, rc, _p, pw=pw) -> None:
            results[pw] = rc.is_failure
            done.set()

        c.on_connect = on_connect
        c.connect(amqtt_broker.host, amqtt_broker.port)
        c.loop_start()
        assert done.wait(20)
        c.disconnect()
        c.loop_stop()
    assert results == {"wrong": True, PASSWORDS["gw-a"]: False}
