"""Audit log page and exports: filters, folded reads, reading audited, exports that verify
offline and catch an edited or removed entry (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.audit_export import verify_text
from central.store.models import AuditEntry
from central.workflow import audit_log
from tests.central.web.util import confirm, login
from tests.central.web.world import World

REPO = Path(__file__).resolve().parents[3]


def _actions(world: World) -> list[tuple[str, str, dict]]:
    with world.ctx.sessions() as s:
        q = sa.select(AuditEntry.actor, AuditEntry.action, AuditEntry.details)
        return [tuple(r) for r in s.execute(q.order_by(AuditEntry.seq)).all()]


def _story(world: World, client: TestClient) -> str:
    """An operator opens an event (evidence reads) and confirms it."""
    eid = world.ingest()
    login(client, "olive")
    page = client.get(f"/console/events/{eid}")
    for n in range(3):
        client.get(f"/console/events/{eid}/evidence/{n}.jpg")
    assert page.status_code == 200
    confirm(client, eid)
    client.cookies.clear()
    login(client, "aud")
    return eid


def test_filters_fold_reads_and_reading_is_audited(world: World, client: TestClient) -> None:
    eid = _story(world, client)
    html = client.get("/console/audit").text
    # The confirmation stands out; the operator's evidence reads are folded into one row.
    decision = r'<tr class="decision" data-seq="\d+"><td>\d+</td><td>[^<]+</td><td>operator:olive'
    assert re.search(decision + "</td><td>event.confirm", html)
    assert re.search(r'<tr class="reads"[^>]*>.*?<td>operator:olive</td><td>\d+ reads</td>', html)
    only = client.get("/console/audit", params={"action": "event.confirm"}).text
    assert "event.confirm" in only and "evidence.read" not in only
    by_target = client.get("/console/audit", params={"target": f"event:{eid}"}).text
    assert "event.confirm" in by_target and "user.login" not in by_target
    none = client.get("/console/audit", params={"actor": "operator:nobody"}).text
    assert "No entries match" in none
    reads = [d for a, act, d in _actions(world) if act == "audit.read"]
    assert {"action": "event.confirm", "limit": 100, "via": "console"} in reads
    assert {"actor": "operator:nobody", "limit": 100, "via": "console"} in reads
    assert client.get("/console/audit", params={"from": "2026-99-01"}).status_code == 422


def test_export_verifies_offline_and_catches_tampering(
    world: World, client: TestClient, tmp_path: Path
) -> None:
    _story(world, client)
    for fmt in ("csv", "json"):
        r = client.get(f"/console/audit/export.{fmt}")
        assert r.status_code == 200
        rep = verify_text(r.text)
        assert rep.ok and rep.complete, rep.problems
        assert rep.entries >= 8
    # Filtered: gaps are reported, not problems.
    part = verify_text(client.get("/console/audit/export.csv?action=event.confirm").text)
    assert part.ok and part.entries == 1 and not part.complete
    # Edited after export: the entry's hash no longer matches.
    text = client.get("/console/audit/export.json").text
    doc = json.loads(text)
    doc["entries"][2]["actor"] = "operator:someone-else"
    bad = verify_text(json.dumps(doc))
    assert not bad.ok and any("content does not match" in p for p in bad.problems)
    # An entry removed from the middle of a CSV export breaks the next link only if the
    # export claimed it: the removal shows as a gap; editing prev_hash is caught.
    rows = list(csv.DictReader(io.StringIO(client.get("/console/audit/export.csv").text)))
    rows[3]["prev_hash"] = "f" * 64
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=audit_log.CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    assert not verify_text(buf.getvalue()).ok
    # The CLI, with no database: exit 0 whole, 1 broken, 2 unreadable.
    good = tmp_path / "audit.json"
    good.write_text(text)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(doc))
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\xff\xfe\x00garbage")
    cli = [sys.executable, "-m", "jaywatch_app.cli", "central", "audit", "verify-export"]
    ok = subprocess.run([*cli, str(good)], capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0 and "whole chain from seq 1" in ok.stdout, ok.stdout + ok.stderr
    no = subprocess.run([*cli, str(broken)], capture_output=True, text=True, cwd=REPO)
    assert no.returncode == 1 and "content does not match" in no.stdout
    un = subprocess.run([*cli, str(junk)], capture_output=True, text=True, cwd=REPO)
    assert un.returncode == 2 and "junk.csv" in un.stderr
    exports = [d for _a, act, d in _actions(world) if act == "audit.export"]
    assert {"format": "json", "via": "console"} in [
        {k: v for k, v in d.items() if k in ("format", "via")} for d in exports
    ]


def test_operators_cannot_read_the_log(world: World, client: TestClient) -> None:
    login(client, "olive")
    assert client.get("/console/audit").status_code == 403
    assert client.get("/console/audit/export.csv").status_code == 403
