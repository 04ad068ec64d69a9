"""The matcher's runner-ups (issue 17) through the shipped process: ``jaywatch central
serve`` (config/central.example.yaml) on SQLite and PostgreSQL, a real mosquitto with the
shipped ACL, a gateway publishing as itself. Runner-ups arrive signed, are stored with a
match (persons enrolled here only) and shown on the console; hostile lists are
dead-lettered naming the field and the service keeps running; an older gateway's event
(no field) is stored as before."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from central.store.models import DeadLetter, Event
from central.workflow.persons import enrol
from jaywatch import wire
from tests.central.helpers import SUPERVISOR, violation
from tests.integration.central_serve import CentralServe, Gateway, acl_broker, wait_until
from tests.services import Broker

pytestmark = [pytest.mark.broker]
GW = "gw-alt"
MATCHED = "7a1c0f7e-6f43-4a55-9b1e-6a3c2d1e0f01"
RIVAL = "7a1c0f7e-6f43-4a55-9b1e-6a3c2d1e0f02"


@pytest.fixture
def served(
    db_url: str, make_broker: Callable[..., Broker], tmp_path: Path
) -> Iterator[tuple[CentralServe, Gateway, Any]]:
    key = wire.generate_device_key()
    broker = acl_broker(make_broker, [GW])
    srv = CentralServe(tmp_path / "c", broker, db_url)
    srv.setup({GW: key}, {"olive": "operator", "aud": "auditor"})
    ctx = srv.context()
    with ctx.sessions.begin() as s:
        enrol(s, SUPERVISOR, ctx.rules, "+447911123456", "test", "Pat", MATCHED)
        enrol(s, SUPERVISOR, ctx.rules, "+447911123457", "test", "Sam", RIVAL)
    ctx.close()
    srv.start()
    gw = Gateway(broker, GW)
    yield srv, gw, key
    gw.close()
    srv.stop()


def _signed_raw(body: dict[str, Any], key: Any) -> dict[str, Any]:
    """``body`` signed as a device signs (canonical JSON without the signature), whatever
    it holds: what a gateway with its own valid key can always send."""
    import base64

    body.pop("signature", None)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return body | {"signature": base64.b64encode(key.sign(canonical.encode())).decode()}


def _acked(gw: Gateway, event_id: str) -> wire.Ack:
    wait_until(lambda: gw.ack_for(event_id) is not None, 60, f"ack of {event_id}")
    ack = gw.ack_for(event_id)
    assert ack is not None
    return ack


def test_runner_ups_stored_shown_and_hostile_lists_dead_lettered(served: Any) -> None:
    srv, gw, key = served
    good = violation(key, device_id=GW, person_id=MATCHED, score=0.66, threshold=0.4,
                     alternatives=[(RIVAL, 0.52), ("p-unknown", 0.3)])  # fmt: skip
    old = violation(key, device_id=GW, person_id=MATCHED, score=0.7)  # no field: as before
    for ev in (good, old):
        gw.publish("violation", ev.model_dump_json())
    assert _acked(gw, good.event_id).status == "stored"
    assert _acked(gw, old.event_id).status == "stored"
    rows = dict(srv.rows(sa.select(Event.event_id, Event.match_alternatives)))
    assert rows[good.event_id] == [{"person_id": RIVAL, "score": 0.52}]
    assert rows[old.event_id] is None

    # Hostile: signed lists no matcher produces (a gateway with valid credentials and key
    # but broken or malicious code), and a valid list changed in transit.
    def hostile(alternatives: list[dict[str, Any]]) -> dict[str, Any]:
        body = json.loads(violation(key, device_id=GW, person_id=MATCHED, score=0.66,
                                    sign=False).model_dump_json())  # fmt: skip
        body["match"]["alternatives"] = alternatives
        return _signed_raw(body, key)

    dup = hostile([{"person_id": RIVAL, "score": 0.5}, {"person_id": RIVAL, "score": 0.4}])
    above = hostile([{"person_id": RIVAL, "score": 0.99}])
    tampered = json.loads(
        violation(key, device_id=GW, person_id=MATCHED, score=0.66,
                  alternatives=[(RIVAL, 0.52)]).model_dump_json()
    )  # fmt: skip
    tampered["match"]["alternatives"][0]["score"] = 0.12  # a close rival made to look far
    for body in (dup, above, tampered):
        gw.publish("violation", json.dumps(body))
    ids = [b["event_id"] for b in (dup, above, tampered)]
    reasons = {_acked(gw, e).reason for e in ids}
    assert any("alternatives[1].person_id: a duplicate" in r for r in reasons), reasons
    assert any("alternatives[0].score: 0.99 ranks above the match" in r for r in reasons)
    assert any("signature" in r for r in reasons), reasons
    assert all(_acked(gw, e).status == "rejected" for e in ids)
    dead = srv.rows(sa.select(DeadLetter.reason))
    assert len(dead) == 3
    assert srv.health().status_code == 200  # still serving

    # The console: the operator sees the rival with its score and gap, and its photo slot.
    c = srv.console("olive")
    try:
        html = c.get(f"/console/events/{good.event_id}").text
    finally:
        c.close()
    alts = html[html.index('id="alternatives"') :]
    assert RIVAL in alts and "0.520" in alts and "0.140 below the match" in alts
    assert "p-unknown" not in html
    assert "No enrolment photo stored" in alts  # the rival has none: said, not hidden
