"""Device security against the real central: a tampered event is refused by central and
quarantined by the edge (never resent); a device cannot get events in under another
device's name, neither on the other's topic (broker ACL) nor on its own (central checks
the topic, the claimed device and the signature). TLS mosquitto, shipped ACL, passwords.
"""

from __future__ import annotations

import json
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from central.store.models import DeadLetter
from edge.gateway_config import BrokerConfig
from edge.outbox import Outbox
from edge.transport.mqtt import MqttLink
from jaywatch import wire
from tests.integration.helpers import PASSWORDS, Central, secure_broker, wait_until

pytestmark = [pytest.mark.broker]


def _event(device_id: str, key, frame: int) -> wire.ViolationEvent:
    ev = wire.ViolationEvent(
        device_id=device_id,
        camera_id="cam-1",
        occurred=wire.utcnow(),
        t=frame / 10,
        frame=frame,
        track_id=frame,
        bbox=(1.0, 2.0, 30.0, 80.0),
        signal=wire.SignalEvidence(phase="red", red_for_s=3.0),
        zone=[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0)],
        grace_s=0.5,
    )
    return wire.sign_message(ev, key)


@pytest.mark.timeout(60)
def test_tampered_and_impersonating_events_are_refused_by_central(
    make_broker, tmp_path: Path
) -> None:
    broker = secure_broker(make_broker, tls=True)
    ka, kb = wire.generate_device_key(), wire.generate_device_key()
    central = Central.create(f"sqlite:///{tmp_path}/c.db", tmp_path / "central", broker)
    central.register("gw-a", ka, ["cam-1"])
    central.register("gw-b", kb, ["cam-1"])
    central.start()
    pw = tmp_path / "pw"
    pw.write_text(PASSWORDS["gw-a"])
    outbox = Outbox(tmp_path / "outbox.sqlite")
    link = MqttLink(
        "gw-a",
        BrokerConfig(host=broker.host, port=broker.port, ca_file=broker.cafile, password_file=pw),
        outbox,
        device_key=ka,
    )
    link.start()
    b = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="gw-b", protocol=mqtt.MQTTv5)
    b.username_pw_set("gw-b", PASSWORDS["gw-b"])
    b.tls_set(ca_certs=str(broker.cafile))
    b.connect(broker.host, broker.port)
    b.loop_start()
    try:
        good = _event("gw-a", ka, 1)
        body = json.loads(good.model_dump_json())
        body.update(event_id=wire.new_event_id(), bbox=[5.0, 2.0, 30.0, 80.0])  # edited
        tampered = wire.ViolationEvent.model_validate(body)
        outbox.put_event(good)
        outbox.put_event(tampered)
        # Central stores the good one, dead-letters the tampered one and says so; the
        # edge deletes the first and quarantines the second (it is never resent).
        wait_until(lambda: outbox.depth() == 0, 20, "both events answered")
        assert [e.event_id for e in central.events()] == [good.event_id]
        assert outbox.rejected_count() == 1
        assert central.count(DeadLetter) == 1

        # gw-b, with its own valid credentials: on gw-a's topic the broker refuses it ...
        forged = _event("gw-a", kb, 2)
        info = b.publish(wire.violation_topic("gw-a"), forged.model_dump_json(), qos=1)
        info.wait_for_publish(5)
        # ... on its own topic, claiming to be gw-a, central refuses it.
        claimed = _event("gw-a", kb, 3)
        b.publish(wire.violation_topic("gw-b"), claimed.model_dump_json(), qos=1)
        wait_until(lambda: central.count(DeadLetter) == 2, 20, "the impersonation refused")
        stored = {e.event_id for e in central.events()}
        assert forged.event_id not in stored and claimed.event_id not in stored
        assert central.count(DeadLetter) == 2  # the forged one never reached central
    finally:
        b.loop_stop()
        b.disconnect()
        link.stop()
        outbox.close()
        central.close()
