"""Dashboard numbers, charts and exports, counted from real decisions through the workflow
(SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.api.app import create_app
from central.plots.svg import nice_ticks
from central.store.models import AuditEntry, Event, Fine, User
from central.workflow import appeals, payments
from central.workflow import dashboard as dash
from central.workflow import queue as dash_queue
from central.workflow.common import Actor, Forbidden
from central.workflow.review import confirm, dismiss
from tests.central.helpers import AUDITOR, SUPERVISOR
from tests.central.web.util import login
from tests.central.web.world import DEVICE, PASSWORDS, PERSON_NAME, PERSON_PHONE, World


def _actor(world: World, name: str) -> Actor:
    with world.ctx.sessions() as s:
        u = s.execute(sa.select(User).where(User.username == name)).scalar_one()
        return Actor(u.username, u.role, u.id)


def _decided_world(world: World) -> dict[str, str]:
    """Two confirmed at cam-1 (one later voided by an upheld appeal), one rejected and
    one confirmed at cam-2, one waiting, one unidentified."""
    now = datetime.now(UTC)
    op = _actor(world, "olive")
    ids = {
        "a": world.ingest(score=0.91, occurred=now - timedelta(hours=2), camera_id="cam-1"),
        "b": world.ingest(score=0.80, occurred=now - timedelta(hours=2), camera_id="cam-1"),
        "c": world.ingest(score=0.40, occurred=now - timedelta(hours=1), camera_id="cam-2"),
        "d": world.ingest(score=0.70, occurred=now - timedelta(hours=1), camera_id="cam-2"),
        "e": world.ingest(score=0.60, camera_id="cam-2"),
        "u": world.ingest(matched=False, camera_id="cam-1"),
    }
    with world.ctx.sessions.begin() as s:
        fine_b = (
            confirm(s, op, world.ctx.rules, ids["a"]).fine,
            confirm(s, op, world.ctx.rules, ids["b"]).fine,
        )
        dismiss(s, op, ids["c"], "wrong_person")
        confirm(s, op, world.ctx.rules, ids["d"])
        appeal = appeals.submit_appeal(
            s, SUPERVISOR, world.ctx.evidence, world.ctx.rules, fine_b[1].reference, "not me"
        )
        appeals.decide_appeal(s, SUPERVISOR, world.ctx.rules, appeal.id, uphold=True, note="agreed")
    return ids


def test_tiles_count_a_voided_fine_as_voided_not_confirmed(world: World) -> None:
    _decided_world(world)
    period = dash.parse_period(None, None)
    with world.ctx.sessions() as s:
        tiles = {t.key: t for t in dash.tiles(s, SUPERVISOR, period)}
        cams = {r.camera: r for r in dash.per_camera(s, SUPERVISOR, period)}
    assert {k: t.count for k, t in tiles.items()} == {
        "waiting": 1, "second_review": 0, "confirming": 0, "unidentified": 1,
        "confirmed": 2, "dismissed": 1,
        "paid": 0, "voided": 1, "refunded": 0, "appeals": 0,
    }  # fmt: skip
    assert tiles["waiting"].href == "/console/queue?status=pending_review"
    assert "status=dismissed" in tiles["dismissed"].href and "date_from=" in tiles["dismissed"].href
    assert cams[f"{DEVICE}/cam-1"].counts == {"confirmed": 1, "voided": 1, "unidentified": 1}
    assert cams[f"{DEVICE}/cam-2"].rejected_share == 0.5


def test_camera_filter_and_period_bounds(world: World) -> None:
    _decided_world(world)
    p = dash.parse_period(None, None, f"{DEVICE}/cam-2")
    old = dash.parse_period("2020-01-01", "2020-01-31")
    with world.ctx.sessions() as s:
        cam2 = {t.key: t.count for t in dash.tiles(s, SUPERVISOR, p)}
        before = {t.key: t.count for t in dash.tiles(s, SUPERVISOR, old)}
    assert (cam2["confirmed"], cam2["dismissed"], cam2["voided"], cam2["waiting"]) == (1, 1, 0, 1)
    assert before["confirmed"] == 0 and before["waiting"] == 1  # waiting: all dates


def test_timeline_bins_and_one_point_reads_as_one_bar(world: World) -> None:
    ids = _decided_world(world)
    week = dash.parse_period(None, None)
    today = dash.parse_period(datetime.now(UTC).date().isoformat(), None)
    with world.ctx.sessions() as s:
        tl_week = dash.timeline(s, SUPERVISOR, week)
        tl_day = dash.timeline(s, SUPERVISOR, today)
    assert tl_week.unit == "day" and len(tl_week.bins) == 7
    assert tl_day.unit == "hour" and len(tl_day.bins) == 24
    totals = {st: sum(b.counts.get(st, 0) for b in tl_week.bins) for st in tl_week.statuses}
    # The voided confirmation is not drawn as confirmed.
    assert totals == {"confirmed": 2, "dismissed": 1, "pending_review": 1, "unidentified": 1}
    assert ids  # the events exist


def test_score_histogram_has_readable_bins(world: World) -> None:
    """The old axis read "50.00–52.00, 1e−6+7.151e−1" with one score: bins are 0.05 wide."""
    world.ingest(score=0.7151)
    with world.ctx.sessions() as s:
        bins = dash.score_histogram(s, SUPERVISOR, dash.parse_period(None, None))
    assert [(b.label, b.counts) for b in bins] == [("0.70–0.75", {"pending_review": 1})]
    _decided_world(world)
    with world.ctx.sessions() as s:
        bins = dash.score_histogram(s, SUPERVISOR, dash.parse_period(None, None))
    assert bins[0].label == "0.40–0.45" and bins[-1].label == "0.90–0.95"
    assert len(bins) == 11  # contiguous, empty bins included
    assert sum(b.counts.get("confirmed", 0) for b in bins) == 3  # scores: 0.91, 0.80, 0.70


def test_workload_per_operator(world: World) -> None:
    _decided_world(world)
    period = dash.parse_period(None, None)
    olive = _actor(world, "olive")
    with world.ctx.sessions() as s:
        (load,) = dash.workload(s, SUPERVISOR, period)
        with pytest.raises(Forbidden):
            dash.workload(s, olive, period)
    assert (load.username, load.decisions, load.confirmed, load.dismissed) == ("olive", 4, 3, 1)
    assert load.median_decide_s is not None and load.median_decide_s >= 0
    assert sum(load.per_day.values()) == 4


@pytest.mark.parametrize(
    ("from_", "to", "camera", "field"),
    [
        ("2026-13-01", None, None, "from"),
        (None, "yesterday", None, "to"),
        ("2026-02-01", "2026-01-01", None, "from"),
        ("2020-01-01", "2026-01-01", None, "from..to"),
        (None, None, "no-slash", "camera"),
    ],
)
def test_bad_period_names_the_field(from_: str, to: str, camera: str, field: str) -> None:
    with pytest.raises(ValueError, match=re.escape(field)):
        dash.parse_period(from_, to, camera)


def test_nice_ticks() -> None:
    assert nice_ticks(0) == [0, 1]
    assert nice_ticks(1) == [0, 1]
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(100_000)[-1] >= 100_000 and len(nice_ticks(100_000)) <= 6


def test_page_has_pickers_linked_tiles_and_charts(world: World, client: TestClient) -> None:
    _ids = _decided_world(world)
    login(client, "sam")
    html = client.get(f"/console/dashboard?camera={DEVICE}/cam-2").text
    assert (
        'name="from"' in html and 'name="to"' in html and f'value="{DEVICE}/cam-2" selected' in html
    )
    assert re.search(r'data-tile="dismissed"><a href="/console/queue\?[^"]*status=dismissed', html)
    assert html.count('<svg class="chart"') == 3
    # every bar segment is a link with an accessible name
    assert re.search(r'<a href="/console/queue\?[^"]+" aria-label="[^"]+: 1 confirmed"', html)
    assert 'data-operator="olive"' in html  # supervisors see workload
    # The drill-down lands on the queue's list of exactly those cases.
    ids = _ids
    href = (
        re.search(r'data-tile="dismissed"><a href="([^"]+)"', html).group(1).replace("&amp;", "&")
    )
    listed = client.get(href).text
    assert ids["c"] in listed and ids["d"] not in listed
    bad = client.get("/console/dashboard?from=2026-99-01")
    assert bad.status_code == 422 and "from: expected a date" in bad.text
    client.cookies.clear()
    login(client, "olive")
    html = client.get("/console/dashboard").text
    assert "data-operator=" not in html and "events.csv" not in html  # operators: neither


def test_csv_export_streams_without_personal_data_and_is_audited(
    world: World, client: TestClient
) -> None:
    ids = _decided_world(world)
    login(client, "aud")
    r = client.get("/console/exports/events.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["event_id"] for row in rows} == set(ids.values())
    assert {row["fine_status"] for row in rows if row["event_id"] == ids["b"]} == {"void"}
    fines = list(csv.DictReader(io.StringIO(client.get("/console/exports/fines.csv").text)))
    assert sorted(f["status"] for f in fines) == ["issued", "issued", "void"]
    for text in (r.text, client.get("/console/exports/fines.csv").text):
        assert world.person_id not in text and PERSON_NAME not in text
        assert PERSON_PHONE not in text and "JW-" not in text and "olive" not in text
    with world.ctx.sessions() as s:
        actions = list(s.execute(sa.select(AuditEntry.action, AuditEntry.actor)).all())
    assert ("export.events", "auditor:aud") in actions
    assert client.get("/console/exports/persons.csv").status_code == 422
    client.cookies.clear()
    login(client, "olive")
    assert client.get("/console/exports/events.csv").status_code == 403


def test_auditor_sees_workload(world: World) -> None:
    _decided_world(world)
    with world.ctx.sessions() as s:
        assert dash.workload(s, AUDITOR, dash.parse_period(None, None))[0].username == "olive"


def test_fine_tiles_link_to_exactly_their_cases(world: World, client: TestClient) -> None:
    """paid / voided / refunded: the tile's count is the number of rows of the list it
    opens (the queue's ``fine=`` filter)."""
    ids = _decided_world(world)
    with world.ctx.sessions.begin() as s:
        fine = s.execute(
            sa.select(Fine).join(Event, Event.id == Fine.event_pk).where(Event.event_id == ids["d"])
        ).scalar_one()
        payments.record_staff_payment(
            s, SUPERVISOR, fine.reference, fine.amount_cents, fine.currency, "R-1"
        )
    login(client, "sam")
    html = client.get("/console/dashboard").text
    seen = {}
    for key in ("paid", "voided", "refunded"):
        m = re.search(rf'data-tile="{key}"><a href="([^"]+)"><span class="n">(\d+)</span>', html)
        assert m, key
        href, count = m.group(1).replace("&amp;", "&"), int(m.group(2))
        r = client.get(href.replace("/console/queue?", "/console/queue/rows?"))
        assert r.status_code == 200
        rows = re.findall(r'<tr data-event="([^"]+)"', r.text)
        assert len(rows) == count == int(r.headers["X-Queue-Total"]), key
        seen[key] = rows
    assert seen == {"paid": [ids["d"]], "voided": [ids["b"]], "refunded": []}
    # The API has the same filter; a bad value names the field.
    api_client = TestClient(create_app(world.ctx))
    tok = api_client.post(
        "/api/auth/login", json={"username": "sam", "password": PASSWORDS["sam"][1]}
    )
    bearer = {"Authorization": f"Bearer {tok.json()['token']}"}
    api = api_client.get(
        "/api/queue", params={"status": "confirmed", "fine": "void"}, headers=bearer
    )
    assert [i["event_id"] for i in api.json()["items"]] == [ids["b"]]
    bad = api_client.get(
        "/api/queue", params={"status": "confirmed", "fine": "lost"}, headers=bearer
    )
    assert bad.status_code == 422 and "fine" in bad.text
    with pytest.raises(ValueError, match="fine: expected one of"):
        dash_queue.QueueFilter(fine="lost")


@pytest.mark.parametrize("username", ["olive", "sam", "aud", "adam"])
def test_no_drill_down_link_leads_to_a_403(world: World, client: TestClient, username: str) -> None:
    """Every role that sees the dashboard opens every list it links to (roles.py GRANTS:
    the queue is for operators and supervisors, appeals for supervisors); the others
    see the counts without a link."""
    _decided_world(world)
    login(client, username)
    html = client.get("/console/dashboard").text
    tiles = re.findall(r'<li data-tile="([^"]+)">(<a href="([^"]+)")?', html)
    assert len(tiles) >= 10
    links = {h.replace("&amp;", "&") for h in re.findall(r'<a href="([^"]+)"', html)}
    lists = {h for h in links if h.startswith(("/console/queue", "/console/unidentified"))}
    for href in links:
        if href.startswith("/console/") and not href.startswith("/console/exports"):
            assert client.get(href).status_code == 200, (username, href)
    linked = {key for key, _, href in tiles if href}
    if username == "sam":
        assert {"paid", "voided", "appeals", "waiting"} <= linked and lists
    elif username == "olive":
        assert "appeals" not in linked and {"paid", "waiting"} <= linked and lists
    else:  # auditors, admins: counts only
        assert not lists and not linked & {"paid", "voided", "waiting", "appeals", "dismissed"}
    # The hint promises only the links this viewer gets.
    hint = re.search(r'<p class="hint">Times are UTC[^<]*</p>', html)
    assert hint is not None
    if username in ("olive", "sam"):
        assert "A tile or a bar opens the list behind it." in hint.group(0)
    elif username == "adam":  # only the quarantine tile (their dead-letters page)
        assert linked == {"quarantined"}
        assert "The “quarantined (time implausible)” tile opens" in hint.group(0)
        assert "a bar" not in hint.group(0)
    else:
        assert not linked and "opens" not in hint.group(0) and "open " not in hint.group(0)
