"""Issue 17's overview through the shipped ``central serve`` (config/central.example.yaml,
real mosquitto with the shipped ACL, SQLite and PostgreSQL): a dead-lettered event from a
gateway registered too late is requeued by an admin; the dashboard counts the decisions;
the statistics export carries no personal data; the audit export verifies offline with
the CLI and reading the log over the API is itself audited."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from central.store.models import AuditEntry, DeadLetter, Event, Fine
from central.workflow.common import SYSTEM
from central.workflow.devices import register_device
from central.workflow.persons import enrol
from jaywatch import wire
from tests.central.helpers import SUPERVISOR, violation
from tests.integration.central_serve import REPO, CentralServe, Gateway, acl_broker, wait_until
from tests.services import Broker

pytestmark = [pytest.mark.broker]
GOOD, LATE = "gw-good", "gw-late"
PERSON = "7a1d3e52-2f0c-4c39-9d64-3c1f0b6a7d99"
PHONE = "+447911123457"


def test_overview_through_central_serve(
    db_url: str, make_broker: Callable[..., Broker], tmp_path: Path
) -> None:
    keys = {GOOD: wire.generate_device_key(), LATE: wire.generate_device_key()}
    broker = acl_broker(make_broker, [GOOD, LATE])
    c = CentralServe(tmp_path / "central", broker, db_url)
    c.setup({GOOD: keys[GOOD]}, {"olive": "operator", "sam": "supervisor", "aud": "auditor",
                                 "ada": "admin"})  # fmt: skip
    ctx = c.context()
    with ctx.sessions.begin() as s:
        enrol(s, SUPERVISOR, ctx.rules, PHONE, "test", "Pat Example", PERSON)
    ctx.close()
    c.start()
    good, late = Gateway(broker, GOOD), Gateway(broker, LATE)
    try:
        # Strong matches (score 0.91, edge threshold 0.40): one reviewer suffices under the
        # shipped review.second_reviewer: weak_matches.
        evs = [
            violation(keys[GOOD], device_id=GOOD, person_id=PERSON, threshold=0.4) for _ in range(3)
        ]
        for ev in evs:
            good.publish("violation", ev.model_dump_json())
        early = violation(keys[LATE], device_id=LATE, person_id=PERSON, threshold=0.4)
        late.publish("violation", early.model_dump_json())  # not registered yet
        wait_until(lambda: all(good.ack_for(e.event_id) for e in evs), 60, "3 stored")
        wait_until(lambda: bool(c.rows(sa.select(DeadLetter.id))), 60, "a dead letter")
        op, sup, aud, adm = (c.bearer(u) for u in ("olive", "sam", "aud", "ada"))
        api = httpx.Client(base_url=c.url, timeout=30)
        assert api.post(f"/api/events/{evs[0].event_id}/confirm", headers=op).status_code == 200
        r = api.post(f"/api/events/{evs[1].event_id}/dismiss", headers=op,
                     json={"reason": "wrong_person"})  # fmt: skip
        assert r.status_code == 204, r.text
        # The shipped undo window (30 s): serve issues the fine once it has passed.
        wait_until(lambda: bool(c.rows(sa.select(Fine.id))), 90, "the fine issued by serve")

        # The admin registers the late gateway, then requeues its dead letter.
        ((dl_id, reason),) = c.rows(sa.select(DeadLetter.id, DeadLetter.reason))
        assert "not registered" in reason
        assert api.post(f"/api/dead-letters/{dl_id}/requeue", headers=op).status_code == 403
        refused = api.post(f"/api/dead-letters/{dl_id}/requeue", headers=adm)
        assert refused.status_code == 409 and "still refused" in refused.text
        ctx = c.context()
        with ctx.sessions.begin() as s:
            register_device(s, SYSTEM, LATE, wire.public_key_bytes(keys[LATE]), "late st")
        ctx.close()
        r = api.post(f"/api/dead-letters/{dl_id}/requeue", headers=adm)
        assert r.status_code == 200 and r.json() == {"outcome": "stored"}, r.text
        assert c.rows(sa.select(DeadLetter.id)) == []
        ((status,),) = c.rows(sa.select(Event.status).where(Event.event_id == early.event_id))
        assert status == "pending_review"

        d = api.get("/api/dashboard", headers=sup).json()
        tiles = {t["key"]: t["count"] for t in d["tiles"]}
        assert (tiles["confirmed"], tiles["dismissed"], tiles["waiting"]) == (1, 1, 2)
        assert [o["username"] for o in d["workload"]] == ["olive"]
        assert d["workload"][0]["decisions"] == 2
        assert api.get("/api/dashboard", headers=op).json()["workload"] is None
        per_cam = api.get("/api/dashboard", headers=sup, params={"camera": f"{LATE}/cam-1"})
        assert {t["key"]: t["count"] for t in per_cam.json()["tiles"]}["waiting"] == 1

        csv_text = api.get("/api/exports/events.csv", headers=aud).text
        rows = list(csv.DictReader(io.StringIO(csv_text)))
        assert len(rows) == 4 and {r["status"] for r in rows} == {
            "confirmed", "dismissed", "pending_review"
        }  # fmt: skip
        assert PERSON not in csv_text and PHONE not in csv_text and "Pat" not in csv_text

        # The audit log over the API: reading is audited; the export verifies offline.
        assert api.get("/api/audit", headers=aud, params={"action": "event."}).status_code == 200
        export = api.get("/api/audit/export.json", headers=aud)
        assert export.status_code == 200
        path = tmp_path / "audit.json"
        path.write_text(export.text)
        cli = [sys.executable, "-m", "jaywatch_app.cli", "central", "audit", "verify-export"]
        ok = subprocess.run([*cli, str(path)], capture_output=True, text=True, cwd=REPO)
        assert ok.returncode == 0 and "whole chain from seq 1" in ok.stdout, ok.stdout + ok.stderr
        doc = json.loads(export.text)
        doc["entries"][-1]["details"]["note"] = "added later"
        path.write_text(json.dumps(doc))
        bad = subprocess.run([*cli, str(path)], capture_output=True, text=True, cwd=REPO)
        assert bad.returncode == 1
        actions = {
            (a, d.get("via")) for a, d in c.rows(sa.select(AuditEntry.action, AuditEntry.details))
        }
        assert ("audit.read", "api") in actions and ("audit.export", "api") in actions
        assert ("dead_letter.requeue", None) in actions
    finally:
        good.close()
        late.close()
        c.stop()
