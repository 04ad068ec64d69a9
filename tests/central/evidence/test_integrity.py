"""Integrity at rest, through ``jaywatch central serve`` and the CLI: a stored evidence
file overwritten on disk is refused everywhere it is read (operator console, API,
citizen page, confirm), flagged, audited and counted; ``evidence verify`` names it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from central.store.models import AuditEntry, Event, EvidenceScrub
from tests.central.evidence.world import Served, csrf_of, tamper
from tests.services import Broker


@pytest.fixture
def served(tmp_path: Path, db_url: str, make_broker: Callable[..., Broker]) -> Iterator[Served]:
    s = Served(tmp_path, db_url, make_broker()).start()
    yield s
    s.stop()


def audit_actions(served: Served, event_id: str) -> list[str]:
    with served.ctx.sessions() as s:
        return list(
            s.execute(
                sa.select(AuditEntry.action)
                .where(AuditEntry.target == f"event:{event_id}")
                .order_by(AuditEntry.seq)
            ).scalars()
        )


@pytest.mark.timeout(300)
def test_an_overwritten_evidence_file_is_refused_everywhere(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    pending = served.publish(served.violation())  # waits for review
    fined = served.publish(served.violation(clip=True))  # confirmed, then its clip is altered
    intact = served.publish(served.violation())  # never touched
    ref, code = served.confirm_via_api(fined)
    assert served.event(pending).message_sha256 is not None  # the signed message is kept

    operator = served.api("olive")
    got = operator.get(f"/api/events/{pending}").json()
    assert got["evidence_altered"] is False and got["evidence_problems"] == []
    assert operator.get(f"/api/events/{pending}/evidence/1").status_code == 200

    original = tamper(served.blob_path(pending, "entry"))
    tamper(served.blob_path(fined, "clip"))

    # API: the event says so, the image is refused, confirming is refused.
    got = operator.get(f"/api/events/{pending}").json()
    assert got["evidence_altered"] is True
    assert any("evidence 1 (entry): ALTERED" in p for p in got["evidence_problems"])
    r = operator.get(f"/api/events/{pending}/evidence/1")
    assert r.status_code == 409 and "altered" in r.json()["detail"]
    assert operator.get(f"/api/events/{pending}/evidence/0").status_code == 200  # untouched
    r = operator.post(f"/api/events/{pending}/confirm")
    assert r.status_code == 409 and "evidence altered" in r.json()["detail"]
    assert served.event(pending).status == "pending_review"  # no fine
    assert operator.get(f"/api/evidence-packages/{pending}").status_code == 409

    # Console: a clear state, no confirm button; a forged confirm POST is refused.
    console = served.console("olive")
    page = console.get(f"/console/events/{pending}")
    assert page.status_code == 200
    assert 'id="evidence-altered"' in page.text and "Evidence altered" in page.text
    assert 'id="confirm-btn"' not in page.text and 'id="package-link"' not in page.text
    r = console.post(f"/console/events/{pending}/confirm", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 409 and "evidence altered" in r.text
    assert console.get(f"/console/events/{pending}/evidence/1.jpg").status_code == 409
    assert 'id="evidence-intact"' in console.get(f"/console/events/{intact}").text

    # Citizen: the notice opens, says the evidence is altered, shows and packages nothing.
    citizen = served.api("ada")  # any client; the notice page needs no login
    page = citizen.post("/notice", data={"reference": ref, "code": code})
    assert page.status_code == 200
    assert 'id="evidence-altered"' in page.text and "data:image/jpeg" not in page.text
    assert 'id="package-form"' not in page.text
    r = citizen.post("/notice/package", data={"reference": ref, "code": code})
    assert r.status_code == 409 and r.headers["content-type"].startswith("text/html")

    r = served.api("aud").get(f"/api/events/{fined}")
    assert any("(clip): ALTERED" in p for p in r.json()["evidence_problems"])
    assert served.api("aud").get(f"/api/events/{fined}/evidence/4").status_code == 409

    # Flag, audit entries and alert.
    for eid in (pending, fined):
        e = served.event(eid)
        assert e.evidence_altered_at is not None and e.evidence_problems
        assert "evidence.altered" in audit_actions(served, eid)
    assert served.event(intact).evidence_altered_at is None
    metrics = httpx_get(served, "/metrics")
    assert 'jaywatch_central_evidence_altered_total{where="api"}' in metrics
    assert 'jaywatch_central_evidence_altered_total{where="citizen"}' in metrics
    assert "jaywatch_central_evidence_flagged_events 2.0" in metrics
    assert "ALERT event" in (served.tmp / "serve.log").read_text()

    # The CLI: --all exits 1 naming exactly the two events; the intact one passes alone.
    capsys.readouterr()
    assert served.cli("evidence", "verify", "--all") == 1
    out = capsys.readouterr().out
    failed = {line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith("FAIL")}
    assert failed == {pending, fined}
    assert "3 event(s) checked" in out and "2 NOT intact" in out
    assert served.cli("evidence", "verify", intact) == 0
    assert served.cli("evidence", "verify", pending) == 1
    with served.ctx.sessions() as s:
        scrub = s.execute(sa.select(EvidenceScrub)).scalar_one()
        assert scrub.events_checked == 3 and scrub.events_failed == 2
        assert {f["event_id"] for f in scrub.failed} == {pending, fined}
    health = served.api("aud").get("/api/health").json()
    assert health["evidence"]["flagged_events"] == 2
    assert health["evidence"]["last_scrub_failed"] == 2
    assert "jaywatch_central_evidence_scrub_failed_events 2.0" in httpx_get(served, "/metrics")

    # The audit chain itself is intact (the findings are in it, not breaking it).
    assert served.cli("audit", "verify") == 0

    # The file restored (from a backup): only `evidence verify` clears the flag, audited;
    # then the event can be confirmed.
    served.blob_path(pending, "entry").write_bytes(original)
    assert operator.post(f"/api/events/{pending}/confirm").status_code == 409  # still flagged
    assert served.cli("evidence", "verify", pending) == 0
    assert "evidence.intact_again" in audit_actions(served, pending)
    assert operator.post(f"/api/events/{pending}/confirm").status_code == 200


def httpx_get(served: Served, path: str) -> str:
    import httpx

    r = httpx.get(served.url + path, timeout=10)
    assert r.status_code == 200
    return r.text


@pytest.mark.timeout(300)
def test_a_legacy_event_is_backfilled_and_a_changed_signed_message_is_caught(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """An event stored before messages were kept (no message_sha256) is re-verified from
    its payload and images and, when the signature holds, its message is stored. A kept
    message changed on disk, or a payload whose rebuilt message no longer verifies, is
    named."""
    legacy = served.publish(served.violation())
    changed = served.publish(served.violation())
    forged = served.publish(served.violation())
    with served.ctx.sessions.begin() as s:
        for eid in (legacy, forged):  # as rows written before this revision look
            s.execute(sa.update(Event).where(Event.event_id == eid).values(message_sha256=None))
        e = s.execute(sa.select(Event).where(Event.event_id == forged)).scalar_one()
        e.payload = {**e.payload, "signal": {**e.payload["signal"], "red_for_s": 60.0}}
    msg = served.event(changed).message_sha256
    tamper(Path(served.ctx.config.evidence_dir) / msg[:2] / msg[2:4] / msg)

    capsys.readouterr()
    assert served.cli("evidence", "verify", "--all") == 1
    out = capsys.readouterr().out
    assert f"FAIL {changed}: signed message: ALTERED on disk" in out
    assert f"FAIL {forged}: signed message (rebuilt from the stored payload" in out
    assert legacy not in out and "1 signed message(s) backfilled" in out
    e = served.event(legacy)
    assert e.message_sha256 is not None and e.evidence_altered_at is None
    assert "evidence.message_backfilled" in audit_actions(served, legacy)
    assert served.cli("evidence", "verify", legacy) == 0
