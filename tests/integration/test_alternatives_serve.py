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

import httpx
import pytest
import sqlalchemy as sa

from central.store.models import AuditEntry, DeadLetter, Event, Notice
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


THIRD = "7a1c0f7e-6f43-4a55-9b1e-6a3c2d1e0f03"


@pytest.fixture
def api_served(
    db_url: str, make_broker: Callable[..., Broker], tmp_path: Path
) -> Iterator[tuple[CentralServe, Gateway, Any]]:
    """As ``served``, plus every staff role and a config that fines on one confirmation
    (so the fined person's notice can be read through the public API)."""
    key = wire.generate_device_key()
    broker = acl_broker(make_broker, [GW])
    srv = CentralServe(
        tmp_path / "c", broker, db_url,
        overrides={"review": {"second_reviewer": "never", "undo_window_s": 0}},
    )  # fmt: skip
    users = {"olive": "operator", "aud": "auditor", "sue": "supervisor", "adm": "admin",
             "cash": "cashier"}  # fmt: skip
    srv.setup({GW: key}, users)
    ctx = srv.context()
    with ctx.sessions.begin() as s:
        enrol(s, SUPERVISOR, ctx.rules, "+447911123456", "test", "Pat", MATCHED)
        enrol(s, SUPERVISOR, ctx.rules, "+447911123457", "test", "Sam", RIVAL)
        enrol(s, SUPERVISOR, ctx.rules, "+447911123458", "test", "Kim", THIRD)
    ctx.close()
    srv.start()
    gw = Gateway(broker, GW)
    yield srv, gw, key
    gw.close()
    srv.stop()


def _reads(srv: CentralServe, event_id: str) -> list[Any]:
    return srv.rows(
        sa.select(AuditEntry.actor, AuditEntry.details)
        .where(AuditEntry.action == "event.read", AuditEntry.target == f"event:{event_id}")
        .order_by(AuditEntry.seq)
    )


def test_api_event_read_carries_runner_ups_for_the_console_roles_only(api_served: Any) -> None:
    """``GET /api/events/{id}`` returns the runner-ups with the console's figures to the
    roles that see the console's event page, in one ``event.read`` entry that lists them;
    roles without the page get no event at all; an event without a match has none; an
    erased candidate leaves the list; the citizen's API and the display never carry them."""
    srv, gw, key = api_served
    good = violation(key, device_id=GW, person_id=MATCHED, score=0.66, threshold=0.4,
                     alternatives=[(RIVAL, 0.52), (THIRD, 0.31), ("p-unknown", 0.3)])  # fmt: skip
    plain = violation(key, device_id=GW, person_id=MATCHED, score=0.7, threshold=0.4)
    nomatch = violation(key, device_id=GW)  # unidentified: nobody enrolled was matched
    for ev in (good, plain, nomatch):
        gw.publish("violation", ev.model_dump_json())
        assert _acked(gw, ev.event_id).status == "stored"

    def get(user: str, event_id: str) -> httpx.Response:
        return httpx.get(f"{srv.url}/api/events/{event_id}", headers=srv.bearer(user), timeout=30)

    r = get("olive", good.event_id)
    assert r.status_code == 200, r.text
    alts = r.json()["alternatives"]
    assert [(a["n"], a["person_id"]) for a in alts] == [(0, RIVAL), (1, THIRD)]  # unknown left out
    assert alts[0]["score"] == pytest.approx(0.52) and alts[1]["score"] == pytest.approx(0.31)
    assert alts[0]["gap"] == pytest.approx(0.14) and alts[1]["gap"] == pytest.approx(0.35)
    assert [a["above_threshold"] for a in alts] == [True, False]  # threshold 0.4
    (read,) = _reads(srv, good.event_id)  # ONE entry for the read, listing what it returned
    assert read.details == {"alternatives": [{"n": 0, "person_id": RIVAL},
                                             {"n": 1, "person_id": THIRD}]}  # fmt: skip
    # The console's page shows the same candidates with the same figures.
    c = srv.console("olive")
    try:
        html = c.get(f"/console/events/{good.event_id}").text
    finally:
        c.close()
    page = html[html.index('id="alternatives"') :]
    assert page.index(RIVAL) < page.index(THIRD) and "p-unknown" not in html
    assert "0.140 below the match" in page and "0.350 below the match" in page
    assert page.count("above the threshold") == 1 and page.count("below the threshold") == 1

    # The auditor sees the console's event page: the same list (ids and scores).
    r = get("aud", good.event_id)
    assert r.status_code == 200 and [a["person_id"] for a in r.json()["alternatives"]] == [
        RIVAL,
        THIRD,
    ]
    # Roles without the console's event page do not get the event (nor the list).
    for user in ("adm", "cash"):
        r = get(user, good.event_id)
        assert r.status_code == 403, (user, r.text)
        assert RIVAL not in r.text
    assert httpx.get(f"{srv.url}/api/events/{good.event_id}", timeout=30).status_code == 401

    # No runner-ups sent / no match at all: the field is there and empty, nothing audited.
    for ev in (plain, nomatch):
        r = get("olive", ev.event_id)
        assert r.status_code == 200 and r.json()["alternatives"] == [], r.text
        assert [d or {} for _a, d in _reads(srv, ev.event_id)] == [{}]  # one entry, no list
    assert get("olive", nomatch.event_id).json()["match_person_id"] is None

    # Only the event read carries them: the queue's rows do not.
    q = httpx.get(f"{srv.url}/api/review/queue", headers=srv.bearer("olive"), timeout=30)
    assert q.status_code == 200 and q.json() and all("alternatives" not in e for e in q.json())
    assert RIVAL not in q.text

    # Confirmed and fined: the person's notice (public API) and the display carry none.
    r = httpx.post(f"{srv.url}/api/events/{good.event_id}/confirm",
                   headers=srv.bearer("olive"), timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    ref = r.json()["fine"]["reference"]
    wait_until(lambda: _code(srv, ref) is not None, 30, "the fine's notice")
    notice = httpx.post(f"{srv.url}/api/public/notice",
                        json={"reference": ref, "code": _code(srv, ref)}, timeout=30)  # fmt: skip
    assert notice.status_code == 200 and ref in notice.text, notice.text
    display = httpx.get(f"{srv.url}/api/public/display", timeout=30)
    assert display.status_code == 200 and display.json(), display.text
    for text in (notice.text, display.text):
        assert RIVAL not in text and THIRD not in text and "alternatives" not in text

    # Erasure: an erased candidate leaves the API's list (as it leaves the page).
    r = httpx.delete(f"{srv.url}/api/persons/{RIVAL}", headers=srv.bearer("sue"), timeout=30)
    assert r.status_code == 200, r.text
    r = get("olive", good.event_id)
    assert [(a["n"], a["person_id"]) for a in r.json()["alternatives"]] == [(0, THIRD)]
    assert _reads(srv, good.event_id)[-1].details == {
        "alternatives": [{"n": 0, "person_id": THIRD}]
    }


def _code(srv: CentralServe, reference: str) -> str | None:
    for (params,) in srv.rows(sa.select(Notice.params).where(Notice.kind == "fine_issued")):
        if params.get("reference") == reference:
            return str(params["access_code"])
    return None
