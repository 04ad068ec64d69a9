"""Every console page in Chromium as each role sees it, with data on it: a screenshot
each (artifacts/screenshots/a11y_*.png), the labels/contrast checks of a11y.py and an
axe-core run (tests/browser/axe.py) with no serious or critical violation. The findings
of lower impact are written to artifacts/a11y/axe-report.json."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from central.ingest.classify import Incoming, KeyCache, classify
from central.ingest.store import load_device_keys, store_batch
from central.store.models import Device, User
from central.workflow import appeals
from central.workflow.common import Actor
from central.workflow.review import confirm, dismiss
from jaywatch import wire
from tests.browser.a11y import check_page
from tests.browser.axe import assert_no_serious, assert_no_violations, axe_version
from tests.central.helpers import SUPERVISOR
from tests.central.web.world import DEVICE, PASSWORDS, World, build_world
from tests.services import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REPORT = Path(__file__).resolve().parents[2] / "artifacts" / "a11y"


def _populate(w: World) -> dict[str, Any]:
    now = datetime.now(UTC)
    with w.ctx.sessions() as s:
        u = s.execute(sa.select(User).where(User.username == "olive")).scalar_one()
        op = Actor(u.username, u.role, u.id)
    ids = [w.ingest(score=0.5 + i / 20, occurred=now - timedelta(hours=3 * i)) for i in range(6)]
    w.ingest(matched=False, camera_id="cam-2")
    quarantined = w.ingest(occurred=now - timedelta(days=60))
    with w.ctx.sessions.begin() as s:
        fines = [confirm(s, op, w.ctx.rules, e).fine for e in ids[:3]]
        dismiss(s, op, ids[3], "wrong_person")
        appeal = appeals.submit_appeal(
            s, SUPERVISOR, w.ctx.evidence, w.ctx.rules, fines[0].reference, "I was elsewhere."
        )
    bad = Incoming(wire.violation_topic(DEVICE), b'{"kind": "violation", <b>not json</b>')
    c = classify(bad, KeyCache(lambda: _keys(w)), w.ctx.config.ingest.max_payload_bytes)
    # A flooding device: a coalesced dead letter, and dropped snapshots on its row.
    junk = [Incoming(wire.snapshot_topic(DEVICE), b'{"junk": %d}' % i) for i in range(14)]
    flood = [classify(m, KeyCache(lambda: _keys(w)), 10_000) for m in junk]
    with w.ctx.sessions.begin() as s:
        store_batch(s, [c], w.ctx.evidence, 4096)
        store_batch(s, flood, w.ctx.evidence, 4096, None, 10)
        s.execute(
            sa.update(Device)
            .where(Device.id == DEVICE)
            .values(snapshots_dropped=1234, snapshots_dropped_last=datetime.now(UTC))
        )
    w.heartbeat(
        wire.DeviceStatus(
            device_id=DEVICE,
            online=True,
            outbox_depth=2,
            cameras=[
                wire.CameraHealth(camera_id="cam-1", up=True, fps=9.6),
                wire.CameraHealth(camera_id="cam-2", up=False, error="rtsp: connection refused"),
            ],
        )
    )
    ref = fines[1].reference
    return {
        "event": ids[4], "appeal": appeal.id, "quarantined": quarantined,
        "reference": ref, "code": w.access_code(ref),
    }  # fmt: skip


def _keys(w: World) -> dict[str, bytes]:
    with w.ctx.sessions() as s:
        return load_device_keys(s)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, str, dict]]:
    tmp = tmp_path_factory.mktemp("a11y")
    w = build_world(f"sqlite:///{tmp / 'central.db'}", tmp)
    data = _populate(w)
    with LiveServer(w.app) as srv:
        yield w, srv.url, data
    w.web.hub.stop()
    w.ctx.close()


def _login(browser: Any, url: str, user: str) -> Any:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(f"{url}/console/login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(PASSWORDS[user][1])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/console/login" not in page.url
    return page


# role → pages (path, screenshot name); {event} etc. filled from the populated data
PAGES = {
    "olive": [
        ("/console/queue", "queue"),
        ("/console/events/{event}", "event"),
        ("/console/dashboard", "dashboard_operator"),
        ("/console/devices", "devices"),
    ],
    "sam": [
        ("/console/appeals", "appeals"),
        ("/console/appeals/{appeal}", "appeal"),
        ("/console/dashboard?from={week_ago}", "dashboard_supervisor"),
    ],
    "aud": [
        ("/console/audit", "audit"),
        ("/console/audit?action=event.confirm", "audit_filtered"),
        ("/console/dashboard?camera=gw-main/cam-1", "dashboard_auditor_camera"),
    ],
    "adam": [
        ("/console/dead-letters", "deadletters"),
        ("/console/devices", "devices_admin"),
        ("/console/dashboard", "dashboard_admin"),
    ],
}


@pytest.mark.parametrize("user", list(PAGES))
def test_console_pages_have_no_serious_axe_violations(
    browser: Any, served: tuple[World, str, dict], shots: Path, user: str
) -> None:
    _w, url, data = served
    fill = {**data, "week_ago": (datetime.now(UTC) - timedelta(days=6)).date().isoformat()}
    page = _login(browser, url, user)
    if user == "olive":  # the login page itself, before signing in
        anon = browser.new_context().new_page()
        anon.goto(f"{url}/console/login")
        check_page(anon)
        assert_no_serious(anon)
        anon.screenshot(path=str(shots / "a11y_login.png"), full_page=True)
    report: dict[str, Any] = {}
    for path, name in PAGES[user]:
        resp = page.goto(url + path.format(**fill))
        assert resp is not None and resp.status < 500, (path, resp and resp.status)
        page.screenshot(path=str(shots / f"a11y_{name}.png"), full_page=True)
        check_page(page)
        report[path] = assert_no_serious(page)
    version = axe_version(page)
    # The dashboard's hint promises a drill-down only to those who get one.
    page.goto(f"{url}/console/dashboard")
    hint = page.locator("p.hint").first.inner_text()
    links = page.locator("ul.tiles a, svg a").count()
    assert ("opens the list" in hint) == (links > 0), (user, hint, links)
    assert ("a bar" in hint) == (user in ("olive", "sam")), (user, hint)
    if user == "olive":
        # Drill-down: a dashboard tile opens the list behind it.
        page.goto(f"{url}/console/dashboard")
        page.locator("[data-tile='waiting'] a").click()
        page.wait_for_load_state()
        assert "/console/queue" in page.url and "status=pending_review" in page.url
    REPORT.mkdir(parents=True, exist_ok=True)
    (REPORT / f"axe-report-{user}.json").write_text(
        json.dumps({"axe": version, "pages": report}, indent=1)
    )
    page.context.close()


def test_citizen_notice_and_display_pages_have_no_serious_axe_violations(
    browser: Any, served: tuple[World, str, dict], shots: Path
) -> None:
    """The public pages: the SMS link's form (/n/{reference}), the notice it opens, and
    the public display of a device (no violation of any impact on the display)."""
    _w, url, data = served
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    report: dict[str, Any] = {}
    resp = page.goto(f"{url}/n/{data['reference']}")
    assert resp is not None and resp.status == 200
    page.screenshot(path=str(shots / "a11y_notice_form.png"), full_page=True)
    check_page(page)
    report["/n/{reference}"] = assert_no_serious(page)
    page.locator("#code").fill(data["code"])
    page.locator("#code").press("Enter")
    page.wait_for_load_state()
    assert data["reference"] in page.content()
    page.screenshot(path=str(shots / "a11y_notice.png"), full_page=True)
    check_page(page)
    report["/notice"] = assert_no_serious(page)
    display = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
    resp = display.goto(f"{url}/display/{DEVICE}")
    assert resp is not None and resp.status == 200
    display.wait_for_timeout(1500)  # the feed fills the screen after load
    display.screenshot(path=str(shots / "a11y_display.png"), full_page=True)
    check_page(display)
    # The display is public and simple: nothing at all, not only nothing serious
    # (it lacked a <main> landmark, a moderate finding, until issue 17's leftovers).
    report["/display/{device}"] = assert_no_violations(display)
    assert display.locator("main").count() == 1
    # The layout still fits one kiosk screen: the list beside counters and rule.
    assert display.evaluate("document.documentElement.scrollHeight") <= 1080
    lst = display.locator("section.list").bounding_box()
    rule = display.locator("section.rule").bounding_box()
    assert lst is not None and rule is not None and lst["x"] < rule["x"]
    REPORT.mkdir(parents=True, exist_ok=True)
    (REPORT / "axe-report-public.json").write_text(
        json.dumps({"axe": axe_version(page), "pages": report}, indent=1)
    )
