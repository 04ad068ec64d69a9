"""Operator console over HTTP: login, roles, CSRF, review order, decisions via workflow."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.store.models import AuditEntry, DisplayEntry, Event, Evidence, Fine, User
from jaywatch import wire
from tests.central.web.util import confirm, csrf_of, login
from tests.central.web.world import DEVICE, World


def test_pages_need_login_and_bad_password_is_refused(world: World, client: TestClient) -> None:
    for path in ("/console/queue", "/console/dashboard", "/console/audit", "/console/appeals"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/console/login")
    r = client.post("/console/login", data={"username": "olive", "password": "nope"})
    assert r.status_code == 401
    assert "Wrong username or password" in r.text
    r = client.post("/console/login", data={"username": "nobody", "password": "nope"})
    assert r.status_code == 401
    with world.ctx.sessions() as s:
        actions = list(s.execute(sa.select(AuditEntry.action)).scalars())
    assert actions.count("user.login_failed") == 2


def test_roles_are_enforced(world: World, client: TestClient) -> None:
    eid = world.ingest()
    login(client, "aud")
    assert client.get("/console/audit").status_code == 200
    page = client.get(f"/console/events/{eid}")  # auditors may read evidence
    assert page.status_code == 200
    assert 'id="confirm-form"' not in page.text
    r = client.post(f"/console/events/{eid}/confirm", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 403
    client.cookies.clear()
    login(client, "sam")  # supervisors decide appeals, not violations
    r = client.post(f"/console/events/{eid}/confirm", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 403
    assert client.get("/console/audit").status_code == 403
    client.cookies.clear()
    login(client, "olive")
    assert client.get("/console/audit").status_code == 403
    assert client.get("/console/appeals").status_code == 403
    with world.ctx.sessions() as s:
        assert s.execute(sa.select(sa.func.count(Fine.id))).scalar_one() == 0


def test_confirm_without_csrf_token_changes_nothing(world: World, client: TestClient) -> None:
    eid = world.ingest()
    login(client, "olive")
    r = client.post(f"/console/events/{eid}/confirm", data={"csrf_token": "forged"})
    assert r.status_code == 403
    with world.ctx.sessions() as s:
        ev = s.execute(sa.select(Event).where(Event.event_id == eid)).scalar_one()
        assert ev.status == "pending_review"
        assert s.execute(sa.select(sa.func.count(Fine.id))).scalar_one() == 0


def test_queue_is_oldest_first_and_next_item_opens_after_a_decision(
    world: World, client: TestClient
) -> None:
    now = datetime.now(UTC)
    newer = world.ingest(occurred=now - timedelta(minutes=2))
    oldest = world.ingest(occurred=now - timedelta(hours=3))
    middle = world.ingest(occurred=now - timedelta(minutes=30))
    world.ingest(matched=False)  # unidentified: never in the review queue
    login(client, "olive")
    html = client.get("/console/queue").text
    order = re.findall(r'href="/console/events/([0-9a-f-]{36})"', html)
    assert order == [oldest, middle, newer]
    # /console/next opens the oldest; confirming it opens the next one by itself.
    r = client.get("/console/next")
    assert r.url.path == f"/console/events/{oldest}"
    r = client.post(f"/console/events/{oldest}/confirm", data={"csrf_token": csrf_of(r.text)})
    assert r.url.path == f"/console/events/{middle}"
    assert "Confirmed: fine JW-" in r.text
    r = client.post(
        f"/console/events/{middle}/dismiss",
        data={"csrf_token": csrf_of(r.text), "reason": "wrong_person"},
    )
    assert r.url.path == f"/console/events/{newer}"
    with world.ctx.sessions() as s:
        status = dict(s.execute(sa.select(Event.event_id, Event.status)).all())
        reason = s.execute(
            sa.select(Event.reason_code).where(Event.event_id == middle)
        ).scalar_one()
        fines = s.execute(sa.select(sa.func.count(Fine.id))).scalar_one()
        shown = s.execute(sa.select(sa.func.count(DisplayEntry.id))).scalar_one()
    assert (status[oldest], status[middle], status[newer]) == (
        "confirmed",
        "dismissed",
        "pending_review",
    )
    assert reason == "wrong_person"
    assert (fines, shown) == (1, 1)  # the rejection issued nothing


def test_event_page_shows_geometry_signal_and_match(world: World, client: TestClient) -> None:
    eid = world.ingest(score=0.8123)
    login(client, "olive")
    html = client.get(f"/console/events/{eid}").text
    assert "6.4 s" in html  # time since red
    assert "0.812" in html and "0.363" in html  # score and threshold
    m = re.search(r"data-geometry='([^']+)'", html)
    assert m and '"roi": [400, 20, 40, 90]' in m.group(1).replace("&#34;", '"')
    imgs = re.findall(r'src="(/console/events/[^"]+\.jpg\?view=\d+)"', html)
    assert len(imgs) == 3  # before, entry, and the face crop
    with world.ctx.sessions() as s:
        before = s.execute(sa.select(sa.func.max(AuditEntry.seq))).scalar_one()
    for url in imgs:
        r = client.get(url)
        assert r.status_code == 200 and r.content.startswith(b"\xff\xd8")
    with world.ctx.sessions() as s:
        view = s.execute(
            sa.select(AuditEntry).where(AuditEntry.action == "event.read")
        ).scalar_one()
        after = s.execute(sa.select(AuditEntry.seq).where(AuditEntry.seq > before)).all()
        shas = [sha for sha, in s.execute(
            sa.select(Evidence.sha256).join(Event).where(Event.event_id == eid)
            .order_by(Evidence.position)
        )]  # fmt: skip
    # ONE entry for the page view, listing every file it shows; its images add none.
    assert view.details["evidence"] == [{"n": i, "sha256": h} for i, h in enumerate(shas)]
    assert after == []


def test_a_read_outside_a_page_view_is_audited_on_its_own(world: World, client: TestClient) -> None:
    """No view id, another user's view, or another event's: each read audited, in the
    API's detail shape ({"n", "sha256"})."""
    eid, other = world.ingest(), world.ingest()
    login(client, "olive")
    html = client.get(f"/console/events/{other}").text
    view = re.search(r"\?view=(\d+)", html).group(1)
    assert client.get(f"/console/events/{eid}/evidence/1.jpg").status_code == 200
    assert client.get(f"/console/events/{eid}/evidence/0.jpg?view={view}").status_code == 200
    client.cookies.clear()
    login(client, "sam")  # a supervisor reusing the operator's view id
    assert client.get(f"/console/events/{other}/evidence/0.jpg?view={view}").status_code == 200
    with world.ctx.sessions() as s:
        reads = [
            (e.actor, e.target, e.details)
            for e in s.execute(
                sa.select(AuditEntry).where(AuditEntry.action == "evidence.read")
                .order_by(AuditEntry.seq)
            ).scalars()
        ]  # fmt: skip
        sha = dict(
            s.execute(
                sa.select(Evidence.position, Evidence.sha256).join(Event)
                .where(Event.event_id == eid)
            ).all()
        )  # fmt: skip
        sha_other = dict(
            s.execute(
                sa.select(Evidence.position, Evidence.sha256).join(Event)
                .where(Event.event_id == other)
            ).all()
        )  # fmt: skip
    assert [(t, d) for _a, t, d in reads] == [
        (f"event:{eid}", {"n": 1, "sha256": sha[1]}),
        (f"event:{eid}", {"n": 0, "sha256": sha[0]}),
        (f"event:{other}", {"n": 0, "sha256": sha_other[0]}),
    ]
    assert reads[2][0] != reads[0][0]  # the supervisor's own entry


def test_dashboard_devices_and_audit_pages(world: World, client: TestClient) -> None:
    eid = world.ingest()
    login(client, "olive")
    confirm(client, eid)
    html = client.get("/console/dashboard").text
    assert re.search(r'data-tile="confirmed"><a href="[^"]+"><span class="n">1</span>', html)
    assert html.count("<svg") == 3
    assert "gw-main" in client.get("/console/devices").text
    client.cookies.clear()
    login(client, "aud")
    html = client.get("/console/audit").text
    assert "Chain verified" in html and "event.confirm" in html


def test_device_health_from_heartbeats(world: World, client: TestClient) -> None:
    world.heartbeat(
        wire.sign_message(
            wire.DeviceStatus(
                device_id=DEVICE,
                online=True,
                outbox_depth=17,
                cameras=[
                    wire.CameraHealth(camera_id="cam-1", up=True, fps=11.5),
                    wire.CameraHealth(camera_id="cam-2", up=False, error="stream lost"),
                ],
                disk_low=True,
            ),
            world.key,
        )
    )
    login(client, "olive")
    html = client.get("/console/devices").text
    row = re.search(
        r"<tr class=\"\" data-device=\"gw-main\">\s*<td>gw-main</td>(.*?)</tr>", html, re.S
    )
    assert row, html
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.group(1)))
    for text in ("online", "17", "cam-1: 11.5", "cam-2:", "down", "stream lost", "low"):
        assert text in cells, text
    assert "never reported" in html  # gw-other has sent nothing


def test_audit_page_shows_a_broken_chain(world: World, client: TestClient) -> None:
    world.ingest()
    login(client, "aud")
    assert "Chain verified" in client.get("/console/audit").text
    with world.ctx.sessions.begin() as s:
        s.execute(sa.update(AuditEntry).where(AuditEntry.seq == 2).values(actor="someone-else"))
    html = client.get("/console/audit").text
    assert "The chain is broken" in html and "entry 2: content does not match" in html


def test_shortcut_preference_is_kept_on_the_account(world: World, client: TestClient) -> None:
    """POST /console/preferences sets the signed-in user's own switch (CSRF-checked, one
    of on/off); the event page renders it for that account only."""
    eid = world.ingest(score=0.87)
    login(client, "olive")
    html = client.get(f"/console/events/{eid}").text
    assert 'data-shortcuts="on"' in html and 'name="keyboard_shortcuts" value="on" checked' in html
    token = csrf_of(html)
    assert (
        client.post("/console/preferences", data={"keyboard_shortcuts": "off"}).status_code == 403
    )
    bad = client.post(
        "/console/preferences", data={"keyboard_shortcuts": "\x00yes", "csrf_token": token}
    )
    assert bad.status_code == 422
    r = client.post("/console/preferences", data={"keyboard_shortcuts": "off", "csrf_token": token})
    assert r.status_code == 200 and r.json() == {"keyboard_shortcuts": False}
    html = client.get(f"/console/events/{eid}").text
    assert 'data-shortcuts="off"' in html and 'id="shortcut-hint" hidden' in html
    with world.ctx.sessions() as s:
        on = dict(s.execute(sa.select(User.username, User.keyboard_shortcuts)).all())
    assert on["olive"] is False and on["otto"] is True
