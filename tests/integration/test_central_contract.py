"""The contract between the edge and central, end to end: each test drives the real
central parts (HTTP API under uvicorn, ingest over a real broker) against the edge's own
code (GallerySync, MqttLink and its outbox) and asserts the edge accepts what central does.
"""

from __future__ import annotations

from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from central.workflow.common import SYSTEM
from edge.gateway_config import BrokerConfig
from edge.outbox import Outbox
from edge.transport.mqtt import MqttLink
from jaywatch import wire
from tests.central.helpers import make_context
from tests.integration.helpers import (
    PASSWORDS,
    Central,
    gallery_bytes,
    secure_broker,
    wait_until,
)
from tests.services import LiveServer, free_port

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
def test_central_announces_a_gallery_the_edge_can_install(make_broker, tmp_path: Path) -> None:
    """Enrol a person and upload a snapshot built by the edge's gallery builder through
    central's real HTTP API (uvicorn on loopback) wired to MQTT as `jaywatch central
    serve` wires it; a device receives the retained announcement (asserted) and the
    edge's GallerySync fetches, verifies and installs it."""
    import functools

    import httpx

    from central.api.app import create_app
    from central.config import ApiSettings, MqttSettings
    from central.gallery_announcer import publish_retained
    from central.workflow.users import create_user
    from edge.gallery_sync import GallerySync
    from edge.gateway_config import GalleryConfig

    broker = secure_broker(make_broker, tls=False)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ctx = make_context(
        f"sqlite:///{tmp_path}/c.db",
        tmp_path / "central",
        api=ApiSettings(secure_cookies=False, base_url=base),
    )
    with ctx.sessions.begin() as s:
        create_user(s, SYSTEM, "ada", "correct horse battery", "admin")
    mqtt_settings = MqttSettings(
        host=broker.host,
        port=broker.port,
        username="central",
        password=PASSWORDS["central"],
        client_id="central-api",
    )
    app = create_app(ctx, announce_gallery=functools.partial(publish_retained, mqtt_settings))
    sub, got = _device_subscriber(broker, wire.GALLERY_TOPIC)
    try:
        with LiveServer(app, port):
            with httpx.Client(base_url=base, timeout=10) as http:
                r = http.post(
                    "/api/auth/login", json={"username": "ada", "password": "correct horse battery"}
                )
                assert r.status_code == 200, r.text
                auth = {"Authorization": f"Bearer {r.json()['token']}"}
                r = http.post(
                    "/api/persons",
                    json={"phone": "+447400123456", "lawful_basis": "court order 1"},
                    headers=auth,
                )
                assert r.status_code == 201, r.text
                snapshot = gallery_bytes({r.json()["id"]: ["obama"]}, 1, tmp_path / "built.npz")
                r = http.post("/api/gallery", content=snapshot, headers=auth)
                assert r.status_code == 201, r.text
            wait_until(lambda: bool(got), 10, "the retained gallery announcement")
            ann = wire.parse_message(got[-1])
            assert isinstance(ann, wire.GalleryAnnouncement) and ann.version == "1"

            (tmp_path / "edge").mkdir()
            sync = GallerySync(
                GalleryConfig(path=tmp_path / "edge" / "gallery.npz", timeout_s=5), []
            )
            sync.install(ann)
            assert sync.version() == ann.version
    finally:
        sub.disconnect()
        sub.loop_stop()
        ctx.close()


@pytest.mark.timeout(90)
def test_central_signs_its_acks(make_broker, tmp_path: Path) -> None:
    """A gateway with ``central_public_key`` set deletes an event only on an ack carrying
    central's signature (a guard against a compromised broker account): an unsigned and a
    forged ack, sent with central's broker account, are ignored; the real ingest's signed
    ack empties the outbox."""
    import time

    from central.config import IngestSettings, MqttSettings
    from central.ingest.consumer import IngestWorker

    broker = secure_broker(make_broker, tls=False)
    key = wire.generate_device_key()
    central_key = wire.generate_device_key()
    central = Central.create(f"sqlite:///{tmp_path}/c.db", tmp_path / "central", broker)
    central.register("gw-a", key, ["cam-1"])
    pw = tmp_path / "pw"
    pw.write_text(PASSWORDS["gw-a"])
    outbox = Outbox(tmp_path / "outbox.sqlite")
    acks: list[wire.Ack] = []

    class Tap(MqttLink):  # records what arrives on our ack topic, then applies it as usual
        def _on_message(self, client, userdata, msg) -> None:
            if msg.topic == wire.ack_topic("gw-a"):
                acks.append(wire.parse_message(msg.payload))  # type: ignore[arg-type]
            super()._on_message(client, userdata, msg)

    link = Tap(
        "gw-a",
        BrokerConfig(host=broker.host, port=broker.port, tls=False, password_file=pw),
        outbox,
        device_key=key,
        central_public_key=wire.public_key_bytes(central_key),
    )
    link.start()
    central_settings = MqttSettings(
        host=broker.host,
        port=broker.port,
        username="central",
        password=PASSWORDS["central"],
        client_id="central-it",
    )
    impostor = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    impostor.username_pw_set("central", PASSWORDS["central"])
    impostor.connect(broker.host, broker.port)
    impostor.loop_start()
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
        wait_until(lambda: link.stats.published >= 1, 20, "the event sent (central not up yet)")
        # Central's broker account in the wrong hands: an unsigned and a forged ack.
        ack = wire.Ack(device_id="gw-a", event_id=ev.event_id, status="stored")
        for bad in (ack, wire.sign_message(ack, wire.generate_device_key())):
            impostor.publish(wire.ack_topic("gw-a"), bad.model_dump_json(), qos=1).wait_for_publish(
                10
            )
        wait_until(lambda: link.stats.ignored_acks >= 2, 20, "both bad acks ignored")
        assert outbox.depth() == 1 and link.stats.acked == 0

        central.worker = IngestWorker(
            central_settings,
            IngestSettings(batch_max=100),
            central.ctx.sessions,
            central.ctx.evidence,
            signing_key=central_key,
        ).start()
        deadline = time.monotonic() + 30
        while outbox.depth() and time.monotonic() < deadline:
            outbox.make_all_due()  # resend now, not after the outbox's backoff
            link.wake()
            time.sleep(0.5)
        assert outbox.depth() == 0, "central's signed ack did not empty the outbox"
        real = acks[2:]
        assert real and real[0].status == "stored"
        assert wire.verify_message(real[0], wire.public_key_bytes(central_key))
        assert central.count() == 1 and link.stats.acked == 1
    finally:
        impostor.disconnect()
        impostor.loop_stop()
        link.stop()
        outbox.close()
        central.close()
