"""The ingest worker thread dies (a fault no input can cause any more, so it is injected):
the supervisor restarts it with back-off, ``/api/health`` says 503 ``worker: restarting``
while nothing is consumed, and nothing is lost or doubled. A message that kills the
thread every time is isolated, dead-lettered and acknowledged (never redelivered).
Real mosquitto, real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.api.app import create_app
from central.config import IngestSettings, MqttSettings
from central.context import Context
from central.ingest import consumer
from central.ingest.consumer import IngestWorker
from central.store.models import DeadLetter, Event
from jaywatch import wire
from tests.central.helpers import add_device, make_context, violation
from tests.central.ingest.test_broker import EdgeClient, count, wait_until
from tests.services import Broker

pytestmark = pytest.mark.broker


class InjectedCrash(BaseException):
    """Not an Exception: nothing in the worker catches it, so the thread really dies."""


@pytest.fixture
def ctx(db_url: str, tmp_path: Path) -> Iterator[Context]:
    c = make_context(db_url, tmp_path)
    yield c
    c.close()


def _worker(ctx: Context, broker: Broker, client_id: str) -> IngestWorker:
    return IngestWorker(
        MqttSettings(host=broker.host, port=broker.port, client_id=client_id),
        IngestSettings(batch_max=50, restart_min_s=1.0, restart_max_s=2.0),
        ctx.sessions,
        ctx.evidence,
    )


def test_a_dead_worker_is_restarted_and_health_says_so_meanwhile(
    ctx: Context, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = add_device(ctx, "gw-1")
    w = _worker(ctx, broker, "central-sup")
    crashing = threading.Event()
    take = w._take_batch

    def faulty_take() -> list:
        if crashing.is_set():
            raise InjectedCrash("injected: the worker thread dies")
        return take()

    monkeypatch.setattr(w, "_take_batch", faulty_take)
    w.start()
    api = TestClient(create_app(ctx, ingest_health=w.health))
    edge = EdgeClient(broker, "gw-1")
    try:
        first = [violation(key, images=0) for _ in range(5)]
        for ev in first:
            edge.publish(wire.violation_topic("gw-1"), ev.model_dump_json())
        assert wait_until(lambda: len(edge.acks) == 5)
        assert api.get("/api/health").status_code == 200

        crashing.set()
        assert wait_until(lambda: w.health().worker == "restarting", 10)
        r = api.get("/api/health")
        assert r.status_code == 503 and r.json()["ingest"]["worker"] == "restarting"
        assert "injected" in r.json()["ingest"]["worker_error"]
        during = [violation(key, images=0) for _ in range(5)]
        for ev in during:
            edge.publish(wire.violation_topic("gw-1"), ev.model_dump_json())
        assert wait_until(lambda: w.health().worker_restarts >= 2, 15)  # died again: back-off
        assert count(ctx, Event) == 5  # nothing consumed while it is down
        assert api.get("/api/health").status_code == 503

        crashing.clear()  # the next restart runs
        assert wait_until(lambda: count(ctx, Event) == 10, 20)
        assert wait_until(lambda: api.get("/api/health").status_code == 200, 10)
        assert wait_until(lambda: len(edge.acks) == 10)
        assert sorted(a.event_id for a in edge.acks) == sorted(e.event_id for e in first + during)
        assert {a.status for a in edge.acks} == {"stored"}
        assert w.metrics.registry.get_sample_value("jaywatch_ingest_worker_running") == 1
    finally:
        edge.close()
        w.stop()
    assert w.health().worker == "stopped" and not w.health().healthy


def test_a_message_that_kills_the_worker_every_time_is_dead_lettered_not_redelivered(
    ctx: Context, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = add_device(ctx, "gw-1")
    poison = violation(key, images=0)
    real_classify = consumer.classify
    kills = []

    def classify(msg: Any, *a: Any, **kw: Any) -> Any:
        if poison.event_id.encode() in msg.payload:
            kills.append(1)
            raise InjectedCrash("injected: this message kills the worker")
        return real_classify(msg, *a, **kw)

    monkeypatch.setattr(consumer, "classify", classify)
    w = _worker(ctx, broker, "central-poison").start()
    edge = EdgeClient(broker, "gw-1")
    try:
        goods = [violation(key, images=0) for _ in range(6)]
        for ev in [*goods[:3], poison, *goods[3:]]:
            edge.c.publish(wire.violation_topic("gw-1"), ev.model_dump_json(), qos=1)
        assert wait_until(lambda: count(ctx, DeadLetter) == 1, 30)
        assert wait_until(lambda: count(ctx, Event) == 6, 20)
        # Killed in its batch, then once more alone; then dead-lettered without running it.
        assert len(kills) == 2
        with ctx.sessions() as s:
            (reason,) = s.execute(sa.select(DeadLetter.reason)).scalars()
            stored = set(s.execute(sa.select(Event.event_id)).scalars())
        assert stored == {e.event_id for e in goods}
        assert "stopped the ingest worker" in reason and "InjectedCrash" in reason
        assert wait_until(lambda: any(a.event_id == poison.event_id for a in edge.acks))
        (ack,) = [a for a in edge.acks if a.event_id == poison.event_id]
        assert ack.status == "rejected"
        assert wait_until(lambda: w.health().healthy, 10)
    finally:
        w.stop()
    # Acknowledged at the broker: the same persistent session gets nothing again.
    w2 = _worker(ctx, broker, "central-poison").start()
    try:
        later = violation(key, images=0)
        edge.publish(wire.violation_topic("gw-1"), later.model_dump_json())
        assert wait_until(lambda: count(ctx, Event) == 7)
        assert len(kills) == 2 and count(ctx, DeadLetter) == 1
    finally:
        edge.close()
        w2.stop()
