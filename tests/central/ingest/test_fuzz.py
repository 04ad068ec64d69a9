"""Property tests: whatever a registered device publishes — arbitrary bytes, arbitrary JSON
(lone surrogates, NaN/Infinity, huge numbers, deep nesting, wrong types), a valid event
with any one field replaced, re-signed by the device's own key — the real ingest worker
on a real mosquitto handles it (stored, or dead-lettered with a printable reason and
acknowledged), never dies and never stalls, and an honest device's events keep being
stored. One broker and one worker per database for the whole module."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.config import IngestSettings, MqttSettings
from central.context import Context
from central.ingest.consumer import IngestWorker
from central.store.models import DeadLetter, Event
from jaywatch import wire
from tests.central.helpers import add_device, make_context, violation
from tests.central.ingest.test_broker import EdgeClient, wait_until
from tests.services import Broker, fresh_pg_database, pg_admin_url

pytestmark = [pytest.mark.broker, pytest.mark.slow]

EXAMPLES = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
DONE = ("stored", "duplicate", "rejected", "status")


@dataclass
class Rig:
    ctx: Context
    worker: IngestWorker
    evil: EdgeClient
    good: EdgeClient
    keys: dict[str, Any]

    def handled(self) -> int:
        return sum(self.worker.counts[s] for s in DONE)

    def send(self, kind: str, payload: bytes) -> None:
        """Publish as gw-evil and wait until the worker has handled (and acked) it."""
        before = self.handled()
        self.evil.publish(f"{wire.TOPIC_ROOT}/gw-evil/{kind}", payload)
        assert wait_until(lambda: self.handled() > before, 20), "message never handled"
        h = self.worker.health()
        assert h.worker == "running" and h.worker_restarts == 0, h
        assert self.worker.counts["unrecorded"] == 0


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    with tempfile.TemporaryDirectory(prefix="jw-fuzz-") as d, _db(request.param, Path(d)) as url:
        broker = Broker(workdir=Path(d) / "broker").start()
        ctx = make_context(url, Path(d))
        keys = {dev: add_device(ctx, dev) for dev in ("gw-evil", "gw-good")}
        w = IngestWorker(
            MqttSettings(host=broker.host, port=broker.port, client_id="central-fuzz"),
            IngestSettings(batch_max=50, max_payload_bytes=200_000),
            ctx.sessions,
            ctx.evidence,
        ).start()
        evil, good = EdgeClient(broker, "gw-evil"), EdgeClient(broker, "gw-good")
        try:
            yield Rig(ctx, w, evil, good, keys)
        finally:
            evil.close()
            good.close()
            w.stop()
            ctx.close()
            broker.stop()


def _db(kind: str, d: Path) -> Any:
    import contextlib

    if kind == "postgresql":
        return fresh_pg_database(pg_admin_url())
    return contextlib.nullcontext(f"sqlite:///{d / 'fuzz.db'}")


# --- strategies ---------------------------------------------------------------------------

# Every code point, lone surrogates included (hypothesis leaves them out by default).
any_char = st.characters(codec=None, exclude_categories=())
any_text = st.text(any_char, max_size=40)
json_scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | any_text
    | st.text(any_char, min_size=36, max_size=36)  # a UUID's length: passes length checks
)
json_value = st.recursive(
    json_scalar,
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(any_text, kids, max_size=5),
    max_leaves=30,
)


def _dumps(v: Any) -> bytes:
    # ensure_ascii: lone surrogates travel as \\udXXX escapes, as a hostile sender writes them
    return json.dumps(v).encode()


def _good_body(key: Any) -> dict[str, Any]:
    ev = violation(key, device_id="gw-evil", person_id="p-1", images=1, sign=False)
    return json.loads(ev.model_dump_json())


def _paths(v: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(v, dict):
        for k, x in v.items():
            out += _paths(x, (*prefix, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += _paths(x, (*prefix, i))
    return out


def _signed(body: dict[str, Any], key: Any) -> bytes:
    body = {k: v for k, v in body.items() if k != "signature"}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    sig = key.sign(canon.encode("utf-8", "surrogatepass"))
    return _dumps({**body, "signature": base64.b64encode(sig).decode()})


def _check_dead_letter(rig: Rig, topic: str, payload: bytes) -> None:
    sha = hashlib.sha256(payload).hexdigest()
    with rig.ctx.sessions() as s:
        reason = s.execute(
            sa.select(DeadLetter.reason).where(DeadLetter.topic == topic, DeadLetter.sha256 == sha)
        ).scalar()
    if reason is not None:
        reason.encode("utf-8")  # printable: valid UTF-8 ...
        assert not any(ord(c) < 32 for c in reason)  # ... without control characters


# --- properties ---------------------------------------------------------------------------


@EXAMPLES
@given(payload=st.binary(max_size=400), kind=st.sampled_from(["violation", "status"]))
def test_arbitrary_bytes(rig: Rig, payload: bytes, kind: str) -> None:
    rig.send(kind, payload)
    _check_dead_letter(rig, f"{wire.TOPIC_ROOT}/gw-evil/{kind}", payload)


@EXAMPLES
@given(value=json_value, kind=st.sampled_from(["violation", "status"]))
def test_arbitrary_json(rig: Rig, value: Any, kind: str) -> None:
    payload = _dumps(value)
    rig.send(kind, payload)
    _check_dead_letter(rig, f"{wire.TOPIC_ROOT}/gw-evil/{kind}", payload)


@EXAMPLES
@given(data=st.data(), value=json_value, sign=st.booleans())
def test_a_valid_event_with_one_field_replaced(
    rig: Rig, data: st.DataObject, value: Any, sign: bool
) -> None:
    body = _good_body(rig.keys["gw-evil"])
    path = data.draw(st.sampled_from(_paths(body)))
    target = body
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    payload = _signed(body, rig.keys["gw-evil"]) if sign else _dumps(body)
    rig.send("violation", payload)
    _check_dead_letter(rig, wire.violation_topic("gw-evil"), payload)
    # A rejection ack could always be built: it names the event id or the payload hash.
    eid = body.get("event_id")
    names = {hashlib.sha256(payload).hexdigest(), eid if isinstance(eid, str) else None}
    assert wait_until(lambda: any(a.event_id in names for a in rig.evil.acks), 10)


@EXAMPLES
@given(
    bbox=st.tuples(*[st.floats(allow_nan=True, allow_infinity=True)] * 4),
    occurred_days=st.floats(min_value=-800_000, max_value=800_000),
)
def test_boxes_and_times_from_a_signing_device(rig: Rig, bbox: tuple, occurred_days: float) -> None:
    body = _good_body(rig.keys["gw-evil"])
    body["event_id"] = wire.new_event_id()
    body["bbox"] = list(bbox)
    try:
        when = wire.utcnow() + timedelta(days=occurred_days)
        body["occurred"] = when.isoformat().replace("+00:00", "Z")
    except OverflowError:
        body["occurred"] = "9999-12-31T23:59:59Z"
    rig.send("violation", _signed(body, rig.keys["gw-evil"]))
    with rig.ctx.sessions() as s:
        row = s.execute(sa.select(Event.status).where(Event.event_id == body["event_id"])).scalar()
    x1, y1, x2, y2 = bbox
    inside = all(math.isfinite(v) for v in bbox) and 0 <= x1 < x2 <= 32 and 0 <= y1 < y2 <= 32
    if inside:  # a plausible box is never refused, whatever the time: stored or quarantined
        assert row is not None, (bbox, occurred_days)
    if row is not None:  # ... and only such a box is stored (inside the 32x32 image)
        assert -0.5 <= x1 < x2 <= 32.5 and -0.5 <= y1 < y2 <= 32.5, bbox
        ahead = occurred_days > 600 / 86_400 + 1e-6
        behind = occurred_days < -30 - 1e-6
        if ahead or behind:
            assert row == "quarantined", (row, occurred_days)
        elif -29.99 < occurred_days < 600 / 86_400 - 1e-3:
            assert row != "quarantined", (row, occurred_days)


def test_an_honest_device_is_still_served(rig: Rig) -> None:
    """After everything above, on the same worker: events are stored and acked."""
    evs = [violation(rig.keys["gw-good"], device_id="gw-good", images=1) for _ in range(5)]
    for ev in evs:
        rig.good.publish(wire.violation_topic("gw-good"), ev.model_dump_json())
    assert wait_until(lambda: {a.event_id for a in rig.good.acks} >= {e.event_id for e in evs})
    assert {a.status for a in rig.good.acks if a.event_id in {e.event_id for e in evs}} == {
        "stored"
    }
    h = rig.worker.health()
    assert h.healthy and h.worker_restarts == 0
