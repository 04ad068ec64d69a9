"""What the edge expects from central that central does not do yet. Each test drives the
real central parts and xfails, naming the missing piece, while the behaviour is absent;
it passes unchanged once central provides it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from central.workflow.persons import enrol
from edge.gateway_config import BrokerConfig
from edge.outbox import Outbox
from edge.transport.mqtt import MqttLink
from jaywatch import wire
from tests.central.helpers import ADMIN
from tests.integration.helpers import PASSWORDS, Central, secure_broker, wait_until

pytestmark = [pytest.mark.broker]


def _device_subscriber(broker, topic: str) -> tuple[mqtt.Client, list[bytes]]:
    got: list[bytes] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="gw-b", protocol=mqtt.MQTTv5)
    c.username_pw_set("gw-b", PASSWORDS["gw-b"])
    c.on_message = lambda _c, _u, m: got.append(bytes(m.payload))
    c.on_connect = lambda cl, *_a: cl.subscribe(topic, qos=1)
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c, got


@pytest.mark.timeout(60)
def test_central_announces_a_fetchable_gallery_after_enrolment(make_broker, tmp_path: Path) -> None:
    broker = secure_broker(make_broker, tls=False)
    central = Central.create(f"sqlite:///{tmp_path}/c.db", tmp_path / "central", broker).start()
    sub, got = _device_subscriber(broker, wire.GALLERY_TOPIC)
    try:
        with central.ctx.sessions.begin() as s:
            enrol(s, ADMIN, central.ctx.rules, "+447400123456", "court order 1", name="A")
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.1)
        if not got:
            pytest.xfail(
                "central has no gallery publisher: enrol/erase only add GalleryVersion rows; "
                "nothing builds the snapshot file, serves it over HTTPS or publishes the "
                "retained GalleryAnnouncement on jaywatch/v1/gallery"
            )
        ann = wire.parse_message(got[-1])
        assert isinstance(ann, wire.GalleryAnnouncement)
        import hashlib

        import httpx

        body = httpx.get(ann.url, timeout=10).content
        assert hashlib.sha256(body).hexdigest() == ann.sha256
    finally:
        sub.disconnect()
        sub.loop_stop()
        central.close()


@pytest.mark.timeout(60)
def test_central_signs_its_acks(make_broker, tmp_path: Path) -> None:
    """A gateway with ``central_public_key`` set deletes an event only on an ack carrying
    central's signature (a guard against a compromised broker account); the real ingest's
    acks must therefore be signed."""
    broker = secure_broker(make_broker, tls=False)
    key = wire.generate_device_key()
    central = Central.create(f"sqlite:///{tmp_path}/c.db", tmp_path / "central", broker)
    central.register("gw-a", key, ["cam-1"])
    central.start()
    pw = tmp_path / "pw"
    pw.write_text(PASSWORDS["gw-a"])
    outbox = Outbox(tmp_path / "outbox.sqlite")
    acks: list[wire.Ack] = []
    seen = threading.Event()

    class Tap(MqttLink):  # records what arrives on our ack topic, then applies it as usual
        def _on_message(self, client, userdata, msg) -> None:
            if msg.topic == wire.ack_topic("gw-a"):
                acks.append(wire.parse_message(msg.payload))  # type: ignore[arg-type]
                seen.set()
            super()._on_message(client, userdata, msg)

    link = Tap(
        "gw-a",
        BrokerConfig(host=broker.host, port=broker.port, tls=False, password_file=pw),
        outbox,
        device_key=key,
    )
    link.start()
    try:
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
        outbox.put_event(wire.sign_message(ev, key))
        wait_until(seen.is_set, 20, "central's ack")
        if acks[0].signature is None:
            pytest.xfail(
                "central's IngestWorker publishes unsigned acks (central has no signing key "
                "in central/config.py), so a gateway cannot enable central_public_key"
            )
        assert acks[0].status == "stored"
    finally:
        link.stop()
        outbox.close()
        central.close()
