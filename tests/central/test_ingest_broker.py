"""Ingest against a real mosquitto: stored + acked, shared-subscription split, hostile input."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from central.config import IngestSettings, MqttSettings
from central.context import Context
from central.ingest.consumer import IngestWorker
from central.store.models import Event, Evidence
from jaywatch import wire
from tests.central.helpers import add_device, make_context, violation
from tests.services import Broker

pytestmark = pytest.mark.broker


class EdgeClient:
    """A minimal edge-side publisher that collects the acks central sends back."""

    def __init__(self, broker: Broker, device_id: str) -> None:
        self.acks: list[wire.Ack] = []
        self._lock = threading.Lock()
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"edge-{device_id}", protocol=mqtt.MQTTv5
        )
        self.c.on_message = self._on_message
        self.c.max_inflight_messages_set(1000)
        self.c.connect(broker.host, broker.port)
        self.c.subscribe(wire.ack_topic(device_id), qos=1)
        self.c.loop_start()
        time.sleep(0.2)

    def _on_message(self, _c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        msg = wire.parse_message(m.payload)
        assert isinstance(msg, wire.Ack)
        with self._lock:
            self.acks.append(msg)

    def publish(self, topic: str, payload: bytes | str) -> None:
        self.c.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def wait_until(cond: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.fixture
def ctx(db_url: str, tmp_path: Path) -> Iterator[Context]:
    c = make_context(db_url, tmp_path)
    yield c
    c.close()


def worker(ctx: Context, broker: Broker, client_id: str) -> IngestWorker:
    return IngestWorker(
        MqttSettings(host=broker.host, port=broker.port, client_id=client_id),
        IngestSettings(batch_max=100),
        ctx.sessions,
        ctx.evidence,
    ).start()


def count(ctx: Context, model: type) -> int:
    with ctx.sessions() as s:
        return s.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def test_events_are_stored_then_acked_and_replay_is_duplicate(ctx: Context, broker: Broker) -> None:
    key = add_device(ctx, "gw-1")
    w = worker(ctx, broker, "central-a")
    edge = EdgeClient(broker, "gw-1")
    try:
        events = [violation(key, images=2) for _ in range(20)]
        for ev in events:
            edge.publish(wire.violation_topic("gw-1"), ev.model_dump_json())
        assert wait_until(lambda: len(edge.acks) >= 20)
        assert {a.event_id for a in edge.acks} == {e.event_id for e in events}
        assert {a.status for a in edge.acks} == {"stored"}
        assert count(ctx, Event) == 20
        assert count(ctx, Evidence) == 40
        # Each image is retrievable by its content hash and matches what was signed.
        with ctx.sessions() as s:
            shas = s.execute(sa.select(Evidence.sha256)).scalars().all()
        assert all(ctx.evidence.exists(h) for h in shas)
        # Replay everything: nothing new is stored, every replay is acked 'duplicate'.
        for ev in events:
            edge.publish(wire.violation_topic("gw-1"), ev.model_dump_json())
        assert wait_until(lambda: len(edge.acks) >= 40)
        assert [a.status for a in edge.acks[20:]] == ["duplicate"] * 20
        assert count(ctx, Event) == 20
        assert count(ctx, Evidence) == 40
    finally:
        edge.close()
        w.stop()
