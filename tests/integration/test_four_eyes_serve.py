"""Four-eyes review and the undo window through the shipped entry point: ``jaywatch
central serve`` from config/central.example.yaml (review.second_reviewer: weak_matches,
weak_margin 0.10, as shipped; only review.undo_window_s shortened from 30 s so the test
does not wait half a minute per case), on SQLite and PostgreSQL, through the API and the
console. The fine is issued by serve's background task once the undo window has passed:
exactly once, also when serve was down meanwhile and two serve processes share the
database."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from central.ingest.classify import Incoming, KeyCache, classify
from central.ingest.store import load_device_keys, store_batch
from central.store.models import AuditEntry, DisplayEntry, Event, Fine, Notice
from central.workflow.persons import enrol
from jaywatch import wire
from tests.central.helpers import SUPERVISOR, add_device, violation
from tests.central.web.util import csrf_of
from tests.integration.central_serve import CentralServe, acl_broker, wait_until
from tests.services import Broker

UNDO_S = 8.0
THRESHOLD = 0.40
WEAK, STRONG = 0.45, 0.85  # shipped weak_margin 0.10: weak below 0.50


def serve(tmp: Path, broker: Broker, db_url: str, **overrides: Any) -> CentralServe:
    return CentralServe(
        tmp, broker, db_url, overrides={"review": {"undo_window_s": UNDO_S}, **overrides}
    )


@pytest.fixture
def central(
    tmp_path: Path, db_url: str, make_broker: Callable[..., Broker]
) -> Iterator[CentralServe]:
    srv = serve(tmp_path / "c1", acl_broker(make_broker, []), db_url)
    srv.setup({}, {"olive": "operator", "oscar": "operator"})
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def stored_events(srv: CentralServe, scores: list[float]) -> list[str]:
    """Matched violations of one enrolled person, stored as ingest stores them."""
    ctx = srv.context()
    try:
        key = add_device(ctx)
        with ctx.sessions.begin() as s:
            person = enrol(s, SUPERVISOR, ctx.rules, "+44 7911 123456", "road traffic law art. 1")

        def device_keys() -> dict[str, bytes]:
            with ctx.sessions() as s:
                return load_device_keys(s)

        out = []
        for score in scores:
            ev = violation(key, person_id=person.id, score=score, threshold=THRESHOLD)
            msg = Incoming(wire.violation_topic("gw-1"), ev.model_dump_json().encode())
            with ctx.sessions.begin() as s:
                (r,) = store_batch(
                    s, [classify(msg, KeyCache(device_keys), 10_000_000)], ctx.evidence, 1024
                )
            assert r.status == "stored"
            out.append(ev.event_id)
        return out
    finally:
        ctx.close()


_TOKENS: dict[tuple[str, str], dict[str, str]] = {}


def api(srv: CentralServe, user: str, path: str) -> httpx.Response:
    """POST as ``user`` (one login per user and server: argon2 is slow by design)."""
    key = (srv.url, user)
    if key not in _TOKENS:
        _TOKENS[key] = srv.bearer(user)
    return httpx.post(f"{srv.url}{path}", headers=_TOKENS[key], timeout=30)


def sanctions_of(srv: CentralServe, event_id: str) -> tuple[int, int, int]:
    """(fines, fine notices, display entries) of one event."""
    fines = [
        f
        for (f,) in srv.rows(
            sa.select(Fine.id)
            .join(Event, Event.id == Fine.event_pk)
            .where(Event.event_id == event_id)
        )
    ]
    notices = srv.rows(
        sa.select(Notice.id).where(Notice.fine_id.in_(fines), Notice.kind == "fine_issued")
    )
    display = srv.rows(sa.select(DisplayEntry.id).where(DisplayEntry.fine_id.in_(fines)))
    return len(fines), len(notices), len(display)


def status(srv: CentralServe, event_id: str) -> str:
    ((st,),) = srv.rows(sa.select(Event.status).where(Event.event_id == event_id))
    return st


def trail(srv: CentralServe, event_id: str) -> list[tuple[str, str, dict]]:
    rows = srv.rows(
        sa.select(AuditEntry.actor, AuditEntry.action, AuditEntry.details)
        .where(AuditEntry.target == f"event:{event_id}", AuditEntry.action.like("event.%"))
        .order_by(AuditEntry.seq)
    )
    return [(a, b, c) for a, b, c in rows if b not in ("event.read", "event.claim")]


def test_four_eyes_and_undo_window_through_serve(central: CentralServe) -> None:
    weak, strong, undone = stored_events(central, [WEAK, STRONG, STRONG])

    # A weak match: the first confirmation only asks for a second reviewer ...
    r = api(central, "olive", f"/api/events/{weak}/confirm")
    assert r.status_code == 200 and r.json()["status"] == "second_review", r.text
    assert r.json()["fine"] is None
    # ... who cannot be the same operator.
    r = api(central, "olive", f"/api/events/{weak}/confirm")
    assert r.status_code == 409 and "different operator" in r.json()["detail"], r.text
    # The second operator sees the state in the queue and on the event page.
    oscar = central.console("oscar")
    queue = oscar.get("/console/queue").text
    row = re.search(rf'<tr data-event="{weak}">(.*?)</tr>', queue, re.S)
    assert row is not None and "Awaiting second review" in row.group(1), queue[-3000:]
    only_second = oscar.get("/console/queue", params={"status": "second_review"}).text
    assert f'data-event="{weak}"' in only_second and f'data-event="{strong}"' not in only_second
    page = oscar.get(f"/console/events/{weak}")
    assert "Awaiting second review: first confirmed by operator:olive" in page.text
    assert "Confirm as second reviewer" in page.text
    r = oscar.post(f"/console/events/{weak}/confirm", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/console/next?done=confirming&ref={weak}"
    # (/next would claim the next case for oscar; the banner is the same on the queue page)
    r = oscar.get(f"/console/queue?done=confirming&ref={weak}")
    assert r.status_code == 200 and 'id="undo-banner"' in r.text, r.text[-2000:]
    assert f"Confirmed event {weak}" in r.text
    assert status(central, weak) == "confirming" and sanctions_of(central, weak) == (0, 0, 0)

    # A strong match: one operator suffices (weak_matches), the undo window still runs.
    r = api(central, "olive", f"/api/events/{strong}/confirm")
    assert r.status_code == 200 and r.json()["status"] == "confirming", r.text
    r = api(central, "olive", f"/api/events/{undone}/confirm")
    assert r.status_code == 200, r.text
    undo_until = datetime.fromisoformat(r.json()["undo_until"])
    # Only the confirming operator may undo, within the window.
    assert api(central, "oscar", f"/api/events/{undone}/undo").status_code == 403
    r = api(central, "olive", f"/api/events/{undone}/undo")
    assert r.status_code == 200 and r.json()["status"] == "pending_review", r.text

    # serve's background task issues the two confirmations once their windows passed.
    wait_until(
        lambda: sanctions_of(central, weak) == sanctions_of(central, strong) == (1, 1, 1),
        90,
        "both fines issued after the undo window",
    )
    # The undone one: well past its window, still nothing (no fine, SMS or screen entry).
    while datetime.now(undo_until.tzinfo) < undo_until:
        time.sleep(0.2)
    time.sleep(3 * 1.0 + 1)  # three of serve's passes (review.issue_poll_s, shipped 1.0)
    assert (
        sanctions_of(central, undone) == (0, 0, 0) and status(central, undone) == "pending_review"
    )
    assert status(central, weak) == status(central, strong) == "confirmed"

    # Both confirmations in the audit log, and who issued the fine.
    w = trail(central, weak)
    assert [(a, b) for a, b, _ in w] == [
        ("operator:olive", "event.confirm_first"),
        ("operator:oscar", "event.confirm_final"),
        ("system:system", "event.confirm"),
    ]
    assert w[-1][2]["confirmed_by"] == ["operator:olive", "operator:oscar"]
    assert [b for _a, b, _ in trail(central, undone)] == [
        "event.confirm_final",
        "event.confirm_undo",
    ]


def test_pending_confirmations_survive_restart_and_two_serves_issue_once(
    tmp_path: Path, db_url: str, make_broker: Callable[..., Broker]
) -> None:
    broker = acl_broker(make_broker, [])
    one = serve(tmp_path / "c1", broker, db_url, review={"undo_window_s": 30})
    one.setup({}, {"olive": "operator"})
    events = stored_events(one, [STRONG] * 5)
    one.start()
    try:
        until = []
        for e in events:
            r = api(one, "olive", f"/api/events/{e}/confirm")
            assert r.status_code == 200 and r.json()["status"] == "confirming", r.text
            until.append(datetime.fromisoformat(r.json()["undo_until"]))
    finally:
        one.stop()
    # central is down: the confirmations are only rows; nothing was issued
    assert [status(one, e) for e in events] == ["confirming"] * 5
    assert all(sanctions_of(one, e) == (0, 0, 0) for e in events)
    while datetime.now(until[-1].tzinfo) < max(until):  # they all fall due while down
        time.sleep(0.2)
    # two serve processes on the one database (and the one evidence store)
    two = serve(
        tmp_path / "c2",
        broker,
        db_url,
        review={"undo_window_s": 30},
        mqtt={"client_id": "central-2"},
        evidence_dir=str(tmp_path / "c1" / "evidence"),
    )
    one.start()
    two.start()
    try:
        wait_until(
            lambda: all(sanctions_of(one, e) == (1, 1, 1) for e in events), 90, "all five fines"
        )
        time.sleep(3 * 1.0 + 1)  # more passes of both processes: nothing more
        assert all(sanctions_of(one, e) == (1, 1, 1) for e in events)
        assert [status(one, e) for e in events] == ["confirmed"] * 5
        issued = [len(re.findall(r"undo window passed: fine JW-", s.log())) for s in (one, two)]
        assert sum(issued) == 5, issued
        for e in events:
            assert [b for _a, b, _ in trail(one, e)] == ["event.confirm_final", "event.confirm"]
    finally:
        two.stop()
        one.stop()
