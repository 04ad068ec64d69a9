"""Ingest against a real mosquitto: stored + acked, shared-subscription split, hostile input."""

from __future__ import annotations

import hashlib
import json
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
from central.store.models import DeadLetter, Device, Event, Evidence
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


@pytest.mark.slow
def test_two_workers_on_a_shared_subscription_split_the_stream(
    ctx: Context, broker: Broker
) -> None:
    keys = {d: add_device(ctx, d) for d in ("gw-1", "gw-2")}
    w1, w2 = worker(ctx, broker, "central-a"), worker(ctx, broker, "central-b")
    edges = {d: EdgeClient(broker, d) for d in keys}
    try:
        sent: list[str] = []
        for i in range(600):
            d = "gw-1" if i % 2 else "gw-2"
            ev = violation(keys[d], device_id=d, images=0)
            sent.append(ev.event_id)
            edges[d].c.publish(wire.violation_topic(d), ev.model_dump_json(), qos=1)
        assert wait_until(lambda: sum(len(e.acks) for e in edges.values()) >= 600, 60)
        time.sleep(0.5)  # any extra (doubled) ack would arrive now
        acks = [a for e in edges.values() for a in e.acks]
        assert sorted(a.event_id for a in acks) == sorted(sent)  # nothing lost, nothing twice
        assert {a.status for a in acks} == {"stored"}
        assert count(ctx, Event) == 600
        assert w1.counts["stored"] > 0 and w2.counts["stored"] > 0
        assert w1.counts["stored"] + w2.counts["stored"] == 600
    finally:
        for e in edges.values():
            e.close()
        w1.stop()
        w2.stop()


def hostile_payloads(key: object, other_key: object, n: int) -> list[tuple[str, bytes, str]]:
    """``n`` malformed or hostile (topic, payload) pairs, each of which must be refused."""
    import random

    rnd = random.Random(1234)
    good = violation(key, images=1)  # type: ignore[arg-type]
    body = good.model_dump(mode="json")
    topic = wire.violation_topic("gw-1")

    def signed(mutate: Callable[[dict], None]) -> bytes:
        d = json.loads(json.dumps(body))
        d["event_id"] = wire.new_event_id()
        mutate(d)
        return json.dumps(d).encode()

    def resign(ev: wire.ViolationEvent, k: object) -> bytes:
        ev = ev.model_copy(update={"event_id": wire.new_event_id(), "signature": None})
        return wire.sign_message(ev, k).model_dump_json().encode()  # type: ignore[arg-type]

    not_jpeg = good.evidence[0].model_copy(update={"jpeg_b64": "aGVsbG8="})
    ack = wire.Ack(device_id="gw-1", event_id=wire.new_event_id(), status="stored")
    ack = ack.model_dump_json().encode()
    # (maker, a word the dead-letter reason must contain)
    makers: list[tuple[Callable[[], tuple[str, bytes]], str]] = [
        (lambda: (topic, bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 300)))), "invalid"),
        (lambda: (topic, good.model_dump_json().encode()[: rnd.randint(1, 400)]), "not JSON"),
        (lambda: (topic, json.dumps(rnd.choice([[], 1, "x", None, [body]])).encode()), "object"),
        (lambda: (topic, signed(lambda d: d.update(kind=rnd.choice(["no", None, 5])))), "kind"),
        (lambda: (topic, signed(lambda d: d.update(occurred="yesterday"))), "occurred"),
        (lambda: (topic, signed(lambda d: d.update(frame=-rnd.randint(1, 9)))), "frame"),
        (lambda: (topic, signed(lambda d: d.update(bbox=[1, 2]))), "bbox"),
        (lambda: (topic, signed(lambda d: d.update(camera_id="c" * 20000))), "camera_id"),
        (lambda: (topic, signed(lambda d: d.update(zone=[[0, 0]] * 5000))), "zone"),
        (lambda: (topic, signed(lambda d: d.update(extra_field="x"))), "extra_field"),
        (
            lambda: (topic, signed(lambda d: d["evidence"][0].update(jpeg_b64="A" * 300_000))),
            "limit",
        ),
        (
            lambda: (topic, signed(lambda d: d.update(track_id=rnd.randint(1000, 9999)))),
            "signature",
        ),
        (lambda: (topic, signed(lambda d: d.update(signature=None))), "signature: missing"),
        (lambda: (topic, signed(lambda d: d.update(signature="!!notbase64"))), "signature"),
        (lambda: (topic, resign(good, other_key)), "signature"),  # someone else's key
        (
            lambda: (
                wire.violation_topic("gw-unknown"),
                resign(good.model_copy(update={"device_id": "gw-unknown"}), other_key),
            ),
            "not registered",
        ),
        (lambda: (topic, resign(good.model_copy(update={"device_id": "gw-2"}), key)), "match"),
        (lambda: (topic, b"[" * 90_000 + b"]" * 90_000), "invalid"),  # nesting bomb
        (lambda: (topic, b"\xff\xfe" + "é".encode("utf-16")), "not JSON"),
        (lambda: (topic, resign(good.model_copy(update={"evidence": [not_jpeg]}), key)), "JPEG"),
        (lambda: (topic, b"{" + b'"a":1,' * 40_000 + b'"kind":"violation"}'), "limit"),
        (lambda: (topic, ack), "kind"),  # a valid message of the wrong kind
    ]
    out = []
    for i in range(n):
        make, why = makers[i % len(makers)]
        t, p = make()
        out.append((t, p, why))
    return out


@pytest.mark.slow
def test_hostile_payloads_are_dead_lettered_and_the_worker_stays_up(
    ctx: Context, broker: Broker
) -> None:
    key = add_device(ctx, "gw-1")
    other = wire.generate_device_key()
    w = IngestWorker(
        MqttSettings(host=broker.host, port=broker.port, client_id="central-h"),
        IngestSettings(batch_max=100, max_payload_bytes=200_000),
        ctx.sessions,
        ctx.evidence,
    ).start()
    edge = EdgeClient(broker, "gw-1")
    try:
        bad = hostile_payloads(key, other, 1000)
        goods = []
        for i, (topic, payload, _why) in enumerate(bad):
            edge.c.publish(topic, payload, qos=1)
            if i % 100 == 0:  # valid events in between must still be stored
                ev = violation(key, images=1)
                goods.append(ev.event_id)
                edge.c.publish(wire.violation_topic("gw-1"), ev.model_dump_json(), qos=1)
        # Identical bad bytes on the same topic are one message: one dead-letter row each.
        distinct = len({(t, hashlib.sha256(p).hexdigest()) for t, p, _why in bad})
        assert distinct < 1000  # some makers repeat their bytes: the collapse is exercised
        assert wait_until(
            lambda: count(ctx, DeadLetter) >= distinct and count(ctx, Event) >= 10, 120
        )
        time.sleep(0.5)
        assert count(ctx, DeadLetter) == distinct
        assert count(ctx, Event) == len(goods)
        with ctx.sessions() as s:
            reasons = dict(s.execute(sa.select(DeadLetter.sha256, DeadLetter.reason)).all())
            stored = set(s.execute(sa.select(Event.event_id)).scalars())
        assert stored == set(goods)
        for _topic, payload, why in bad:  # each refused for the right reason
            reason = reasons[hashlib.sha256(payload).hexdigest()]
            assert why in reason, (why, reason, payload[:80])
        # ... and the worker is still alive and storing.
        ev = violation(key)
        edge.publish(wire.violation_topic("gw-1"), ev.model_dump_json())
        assert wait_until(
            lambda: any(a.event_id == ev.event_id and a.status == "stored" for a in edge.acks)
        )
    finally:
        edge.close()
        w.stop()


def test_a_nul_byte_in_a_signed_event_is_dead_lettered_alone(ctx: Context, broker: Broker) -> None:
    """A signed event with a NUL byte in a string (PostgreSQL would refuse it, SQLite store
    it): the wire contract refuses it on both, naming the field, and the events around it
    are stored."""
    key = add_device(ctx, "gw-1")
    w = worker(ctx, broker, "central-p")
    edge = EdgeClient(broker, "gw-1")
    try:
        evs = [violation(key, images=0) for _ in range(5)]
        bad_match = wire.MatchResult.model_construct(person_id="p\x00oison", score=0.91)
        poison = wire.sign_message(
            violation(key, images=0, sign=False).model_copy(update={"match": bad_match}), key
        )
        for ev in [*evs[:2], poison, *evs[2:]]:
            edge.c.publish(wire.violation_topic("gw-1"), ev.model_dump_json(), qos=1)
        assert wait_until(lambda: count(ctx, Event) + count(ctx, DeadLetter) >= 6)
        time.sleep(0.3)
        with ctx.sessions() as s:
            stored = set(s.execute(sa.select(Event.event_id)).scalars())
            (reason,) = s.execute(sa.select(DeadLetter.reason)).scalars()
        assert stored == {e.event_id for e in evs}
        assert "match.person_id" in reason and "control character U+0000" in reason
        assert count(ctx, DeadLetter) == 1
        assert wait_until(lambda: any(a.event_id == poison.event_id for a in edge.acks))
        (ack,) = [a for a in edge.acks if a.event_id == poison.event_id]
        assert ack.status == "rejected" and "person_id" in ack.reason
    finally:
        edge.close()
        w.stop()


def test_nothing_is_acked_before_the_commit_and_a_restart_loses_nothing(
    ctx: Context, broker: Broker
) -> None:
    """A worker whose database is down never acks (not to the broker, not to the edge);
    the broker keeps the messages in the persistent session, and the next worker with
    the same client id stores them all. Heartbeats update device health."""
    key = add_device(ctx, "gw-1")
    dead_db = sa.orm.sessionmaker(sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/x"))
    broken = IngestWorker(
        MqttSettings(host=broker.host, port=broker.port, client_id="central-r"),
        IngestSettings(batch_max=50),
        dead_db,
        ctx.evidence,
    ).start()
    edge = EdgeClient(broker, "gw-1")
    try:
        events = [violation(key, images=0) for _ in range(30)]
        for ev in events:
            edge.publish(wire.violation_topic("gw-1"), ev.model_dump_json())
        assert wait_until(lambda: broken.counts["retries"] >= 2)
        assert edge.acks == []  # nothing committed, so nothing acked
        broken.stop()
        healthy = worker(ctx, broker, "central-r")  # same id: same persistent session
        try:
            assert wait_until(lambda: len({a.event_id for a in edge.acks}) >= 30)
            assert count(ctx, Event) == 30
            assert {a.event_id for a in edge.acks} == {e.event_id for e in events}
            status = wire.DeviceStatus(device_id="gw-1", online=True, outbox_depth=7)
            edge.publish(wire.status_topic("gw-1"), status.model_dump_json())

            def device() -> Device:
                with ctx.sessions() as s:  # a short session: never hold SQLite's write lock
                    d = s.get(Device, "gw-1")
                    assert d is not None
                    return d

            assert wait_until(lambda: device().last_seen is not None)
            assert device().outbox_depth == 7 and device().online is True
        finally:
            healthy.stop()
    finally:
        edge.close()
