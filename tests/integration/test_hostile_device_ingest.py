"""A registered gateway turned hostile cannot stop central's ingest or break review
(issue 12, findings 1 and 6). Everything goes through the shipped process — ``jaywatch
central serve`` with config/central.example.yaml (paths, broker and port changed) — a real
mosquitto with the shipped ACL, and the real database (SQLite and PostgreSQL).

The hostile gateway ``gw-evil`` has valid broker credentials and its own device key, so it
can sign anything; ``gw-good`` is an honest gateway whose events must keep flowing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from central.store.models import DeadLetter, Device, Event, Fine
from central.workflow.persons import enrol
from jaywatch import wire
from tests.central.helpers import SUPERVISOR, violation
from tests.integration.central_serve import CentralServe, Gateway, acl_broker, wait_until
from tests.services import Broker

pytestmark = [pytest.mark.broker]

EVIL, GOOD = "gw-evil", "gw-good"
PERSON = "5f0e8a52-2f0c-4c39-9d64-3c1f0b6a7d21"
# The reported message: valid JSON whose 36-character event_id starts with a lone
# surrogate (not valid UTF-8 once decoded). Today's code dead-letters it, then dies
# building the rejection ack, and dies again on every redelivery.
SURROGATE = b'{"event_id":"\\udc80' + b"a" * 35 + b'"}'


@pytest.fixture
def keys() -> dict[str, Any]:
    return {EVIL: wire.generate_device_key(), GOOD: wire.generate_device_key()}


@pytest.fixture
def central(
    db_url: str, make_broker: Callable[..., Broker], tmp_path: Path, keys: dict[str, Any]
) -> Iterator[CentralServe]:
    broker = acl_broker(make_broker, [EVIL, GOOD])
    c = CentralServe(tmp_path / "central", broker, db_url)
    c.setup(keys, {"ada": "admin", "olive": "operator"})
    ctx = c.context()
    with ctx.sessions.begin() as s:
        enrol(s, SUPERVISOR, ctx.rules, "+447911123456", "test", "Pat", PERSON)
    ctx.close()
    c.start()
    yield c
    c.stop()


@pytest.fixture
def gateways(central: CentralServe) -> Iterator[dict[str, Gateway]]:
    gws = {d: Gateway(central.broker, d) for d in (EVIL, GOOD)}
    yield gws
    for g in gws.values():
        g.close()


def send_good(gw: Gateway, key: Any, n: int) -> list[str]:
    evs = [violation(key, device_id=GOOD, images=1) for _ in range(n)]
    for ev in evs:
        gw.publish("violation", ev.model_dump_json())
    return [e.event_id for e in evs]


def all_stored(gw: Gateway, ids: list[str]) -> Callable[[], bool]:
    return lambda: all((a := gw.ack_for(i)) is not None and a.status == "stored" for i in ids)


def dead_letters(central: CentralServe) -> dict[str, str]:
    """sha256 of the payload → reason."""
    return dict(central.rows(sa.select(DeadLetter.sha256, DeadLetter.reason)))


def test_the_surrogate_message_neither_stops_ingest_nor_comes_back(
    central: CentralServe, gateways: dict[str, Gateway], keys: dict[str, Any]
) -> None:
    evil, good = gateways[EVIL], gateways[GOOD]
    sha = hashlib.sha256(SURROGATE).hexdigest()
    evil.publish("violation", SURROGATE)
    ids = send_good(good, keys[GOOD], 5)
    wait_until(all_stored(good, ids), 30, "the honest gateway's events stored and acked")
    assert {e for (e,) in central.rows(sa.select(Event.event_id))} == set(ids)

    # Dead-lettered once, with a reason naming what is wrong; the rejection ack names the
    # payload by its hash (its event_id is no UUID), signed by central like every ack.
    reasons = dead_letters(central)
    assert list(reasons) == [sha] and "kind: expected one of" in reasons[sha]
    wait_until(lambda: evil.ack_for(sha) is not None, 20, "the rejection ack")
    ack = evil.ack_for(sha)
    assert ack is not None and ack.status == "rejected" and "kind" in ack.reason
    assert wire.verify_message(ack, wire.public_key_bytes(central.key))

    h = central.health()
    assert h.status_code == 200, h.text
    assert h.json()["ingest"]["worker"] == "running"
    assert h.json()["ingest"]["worker_restarts"] == 0

    # It was acknowledged at the broker: a restarted central is not fed it again.
    central.stop()
    central.start()
    more = send_good(good, keys[GOOD], 3)
    wait_until(all_stored(good, more), 30, "events after the restart stored")
    assert dead_letters(central) == reasons
    assert [a.event_id for a in evil.acks] == [sha]  # no second rejection: not redelivered
    assert central.health().json()["ingest"]["worker_restarts"] == 0


def _signed_raw(body: dict[str, Any], key: Any) -> bytes:
    """What a hostile gateway can send: any JSON body, signed over its canonical form
    (json.dumps allows NaN/Infinity, as Python's json module reads them)."""
    body = {k: v for k, v in body.items() if k != "signature"}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    sig = key.sign(canon.encode("utf-8", "surrogatepass"))
    return json.dumps({**body, "signature": base64.b64encode(sig).decode()}).encode()


def _body(key: Any, **update: Any) -> dict[str, Any]:
    ev = violation(key, device_id=EVIL, person_id=PERSON, images=1, sign=False)
    return {**json.loads(ev.model_dump_json()), **update}


def _with_signal(key: Any, **signal: Any) -> dict[str, Any]:
    b = _body(key)
    b["signal"].update(signal)
    return b


def _with_match(key: Any, **match: Any) -> dict[str, Any]:
    b = _body(key)
    b["match"].update(match)
    return b


# (case, body maker, words the dead-letter reason must contain)
REFUSED: list[tuple[str, Callable[[Any], dict[str, Any]], list[str]]] = [
    ("id with a slash", lambda k: _body(k, event_id="a/b" + "z" * 33), ["event_id", "pattern"]),
    ("id not a uuid", lambda k: _body(k, event_id="x" * 36), ["event_id"]),
    ("NaN bbox", lambda k: _body(k, bbox=[float("nan"), 2, 20, 30]), ["bbox.0", "finite"]),
    ("infinite bbox", lambda k: _body(k, bbox=[4, 2, float("inf"), 30]), ["bbox.2", "finite"]),
    ("NaN score", lambda k: _with_match(k, score=float("nan")), ["match.score", "finite"]),
    ("infinite zone", lambda k: _body(k, zone=[[0, 0], [float("-inf"), 0], [1, 1]]), ["zone"]),
    ("NaN red time", lambda k: _with_signal(k, red_for_s=float("nan")), ["signal.red_for_s"]),
    ("inverted bbox", lambda k: _body(k, bbox=[20, 2, 4, 30]), ["bbox", "x1 < x2"]),
    ("empty bbox", lambda k: _body(k, bbox=[4, 2, 4, 30]), ["bbox", "non-empty"]),
    ("bbox outside", lambda k: _body(k, bbox=[4.0, 2.0, 500.0, 600.0]), ["not inside the 32x32"]),
    ("control char", lambda k: _with_match(k, backend="sface\x1b[2J"), ["match.backend"]),
    ("naive time", lambda k: _body(k, occurred="2026-01-01T00:00:00"), ["occurred", "timezone"]),
]

ABSURD_TIMES = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2099-06-01T12:00:00Z"]


def test_finding_6_cases_are_refused_or_quarantined_never_reviewed_or_fined(
    central: CentralServe, gateways: dict[str, Gateway], keys: dict[str, Any]
) -> None:
    evil, good = gateways[EVIL], gateways[GOOD]
    k = keys[EVIL]
    refused = {}
    for case, make, words in REFUSED:
        body = make(k)
        raw = _signed_raw(body, k)
        sha = hashlib.sha256(raw).hexdigest()
        # The rejection ack echoes the event id only when it is a valid UUID.
        ack_id = body["event_id"] if re.fullmatch(wire.UUID_PATTERN, body["event_id"]) else sha
        refused[sha] = (case, words, ack_id)
        evil.publish("violation", raw)
    absurd = {}
    for t in ABSURD_TIMES:  # validly signed, matched to an enrolled person
        ev = wire.sign_message(
            violation(k, device_id=EVIL, person_id=PERSON, sign=False).model_copy(
                update={"occurred": datetime.fromisoformat(t)}
            ),
            k,
        )
        absurd[ev.event_id] = t
        evil.publish("violation", ev.model_dump_json())
    # Status messages with bad strings: dead-lettered, the devices page keeps working.
    bad_status = [
        '{"kind":"status","device_id":"gw-evil","online":true,"gallery_version":"\\udc80"}',
        '{"kind":"status","device_id":"gw-evil","online":true,"models":{"\\ud800":"m"}}',
        '{"kind":"status","device_id":"gw-evil","online":true,"cameras":[{"camera_id":"c",'
        '"up":true,"error":"\\udfff"}]}',
        '{"kind":"status","device_id":"gw-evil","online":true,"outbox_depth":1e999}',
    ]
    for st in bad_status:
        evil.publish("status", st)
    ids = send_good(good, keys[GOOD], 3)
    good.publish(
        "status", wire.DeviceStatus(device_id=GOOD, online=True, outbox_depth=4).model_dump_json()
    )

    wait_until(all_stored(good, ids), 30, "the honest gateway's events")
    wait_until(
        lambda: len(dead_letters(central)) >= len(REFUSED) + len(bad_status), 30, "dead letters"
    )
    reasons = dead_letters(central)
    for sha, (case, words, ack_id) in refused.items():
        assert sha in reasons, case
        assert all(w in reasons[sha] for w in words), (case, reasons[sha])
        wait_until(lambda a=ack_id: evil.ack_for(a) is not None, 20, f"rejection ack ({case})")
        assert evil.ack_for(ack_id).status == "rejected"  # type: ignore[union-attr]
    for st in bad_status:
        assert hashlib.sha256(st.encode()).hexdigest() in reasons, st
    assert len(reasons) == len(REFUSED) + len(bad_status)

    # The absurd times are stored (nothing lost) as quarantined, acked as stored ...
    wait_until(lambda: all(evil.ack_for(e) for e in absurd), 20, "acks of the absurd times")
    assert {evil.ack_for(e).status for e in absurd} == {"stored"}  # type: ignore[union-attr]
    status = dict(central.rows(sa.select(Event.event_id, Event.status)))
    assert {status[e] for e in absurd} == {"quarantined"}
    # ... shown to an admin with the reason, never in the review queue, never fined.
    q = httpx.get(f"{central.url}/api/quarantine", headers=central.bearer("ada"), timeout=30)
    assert q.status_code == 200, q.text
    shown = {i["event_id"]: i["reason"] for i in q.json()}
    assert shown == {
        e: "occurred_behind" if t.startswith("0001") else "occurred_ahead"
        for e, t in absurd.items()
    }
    op = central.bearer("olive")
    queue = httpx.get(f"{central.url}/api/review/queue", headers=op, timeout=30).json()
    assert not {i["event_id"] for i in queue} & set(absurd)
    for e in absurd:
        r = httpx.post(f"{central.url}/api/events/{e}/confirm", headers=op, timeout=30)
        assert r.status_code == 409, r.text
        assert httpx.get(f"{central.url}/api/events/{e}", headers=op, timeout=30).status_code == 200
    assert central.rows(sa.select(sa.func.count()).select_from(Fine)) == [(0,)]

    # A row stored before this check existed (pending, year 9999): confirming it is a
    # 409 naming the time, not a 500 (OverflowError in the fine's date arithmetic).
    legacy = wire.new_event_id()
    eng = sa.create_engine(central.db_url)
    with eng.begin() as c:
        c.execute(
            sa.insert(Event).values(
                event_id=legacy, device_id=EVIL, camera_id="cam-1", offence_code="PED_RED",
                occurred=datetime(9999, 12, 31, tzinfo=UTC), received=datetime.now(UTC),
                status="pending_review", match_person_id=PERSON, match_score=0.9, payload={},
            )
        )  # fmt: skip
    eng.dispose()
    r = httpx.post(f"{central.url}/api/events/{legacy}/confirm", headers=op, timeout=30)
    assert r.status_code == 409 and "plausible" in r.json()["detail"], r.text

    # The devices page renders; the honest heartbeat was stored, the hostile ones not.
    wait_until(
        lambda: central.rows(sa.select(Device.outbox_depth).where(Device.id == GOOD)) == [(4,)],
        20, "the honest heartbeat",
    )  # fmt: skip
    c = central.console("ada")
    try:
        page = c.get("/console/devices")
    finally:
        c.close()
    assert page.status_code == 200 and GOOD in page.text and EVIL in page.text
    (evil_status,) = central.rows(sa.select(Device.status).where(Device.id == EVIL))
    assert evil_status == (None,)
    h = central.health().json()
    assert h["healthy"] and h["ingest"]["worker_restarts"] == 0
