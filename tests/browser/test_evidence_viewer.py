"""The evidence viewer of a real ``jaywatch central serve`` (config/central.example.yaml)
in Debian's Chromium: the decision bar in view, zoom, switchable shortcuts, the confirm
step before a sanction, the face comparison at equal scale, labels instead of codes, and
one audit entry per page view.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from PIL import Image

from central.store.models import AuditEntry, Event, User
from central.workflow import appeals, photos
from central.workflow.common import Actor
from central.workflow.review import confirm as wf_confirm
from tests.browser.a11y import check_page
from tests.browser.test_web_flow import shot
from tests.central.frontdoor.serve import Serve, example_config
from tests.central.helpers import ADMIN, SUPERVISOR
from tests.central.web.world import PASSWORDS, PHOTOS, World, build_world
from tests.services import Broker

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REFERENCE = PHOTOS / "obama3.jpg"  # an enrolled gallery photo (sample_media)
VIEWPORTS = [(1280, 720), (1440, 900)]


@dataclass
class Site:
    world: World
    url: str
    db: sa.Engine

    def status(self, event_id: str) -> str:
        with self.db.connect() as c:
            return c.execute(sa.select(Event.status).where(Event.event_id == event_id)).scalar_one()

    def actions_after(self, seq: int) -> list[str]:
        with self.db.connect() as c:
            return list(
                c.execute(
                    sa.select(AuditEntry.action)
                    .where(AuditEntry.seq > seq)
                    .order_by(AuditEntry.seq)
                ).scalars()
            )

    def last_seq(self) -> int:
        with self.db.connect() as c:
            return c.execute(sa.select(sa.func.max(AuditEntry.seq))).scalar_one()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("viewer")
    db_url = f"sqlite:///{tmp / 'central.db'}"
    world = build_world(db_url, tmp)  # DB, device, users, enrolled person (evidence in tmp)
    with world.ctx.sessions.begin() as s:
        photos.add_photos(
            s,
            ADMIN,
            world.ctx.evidence,
            world.person_id,
            [(REFERENCE.name, REFERENCE.read_bytes())],
        )
    world.web.hub.stop()
    broker = Broker(workdir=tmp / "broker").start()
    cfg = example_config(tmp, db_url, broker, {}, "central-viewer")
    data = yaml.safe_load(cfg.read_text())
    data["api"]["secure_cookies"] = False  # plain http on loopback (the demo's setting)
    # The viewer's own behaviour: one confirmation, fined at once (four-eyes and the undo
    # window have their own tests, tests/integration/test_four_eyes_serve.py).
    data["review"].update(second_reviewer="never", undo_window_s=0)
    cfg.write_text(yaml.safe_dump(data))
    try:
        with Serve(cfg, tmp / "serve.log", ["--no-ingest"]) as srv:
            engine = sa.create_engine(db_url)
            yield Site(world, srv.url, engine)
            engine.dispose()
    finally:
        broker.stop()
        world.ctx.close()


def _login(page: Any, url: str, user: str = "olive") -> None:
    page.goto(f"{url}/console/login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(PASSWORDS[user][1])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/**")


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    p = ctx.new_page()
    _login(p, site.url)
    yield p
    ctx.close()


def _box(page: Any, selector: str) -> dict[str, float]:
    return page.eval_on_selector(
        selector,
        "e => { const r = e.getBoundingClientRect();"
        " return {x: r.x, y: r.y, w: r.width, h: r.height}; }",
    )


def _images_loaded(page: Any) -> None:
    page.wait_for_function("() => [...document.images].every(i => i.complete)")


@pytest.mark.parametrize(("width", "height"), VIEWPORTS)
def test_decision_bar_is_in_view_without_scrolling(
    browser: Any, site: Site, width: int, height: int, shots: Path
) -> None:
    eid = site.world.ingest(score=0.87)
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    _login(page, site.url)
    page.goto(f"{site.url}/console/events/{eid}")
    _images_loaded(page)
    assert page.evaluate("window.scrollY") == 0
    for sel in ("#confirm-btn", "#reject-btn", "#reason"):
        b = _box(page, sel)
        assert b["y"] >= 0 and b["y"] + b["h"] <= height, (sel, b, height)
        assert b["x"] >= 0 and b["x"] + b["w"] <= width, (sel, b, width)
    # Still in view after scrolling through the evidence.
    page.evaluate("window.scrollTo(0, 600)")
    assert page.evaluate("window.scrollY") > 0
    b = _box(page, "#confirm-btn")
    assert b["y"] + b["h"] <= height
    shot(page, shots, f"console_event_viewer_{width}x{height}")
    check_page(page)
    ctx.close()


def test_zoom_changes_the_displayed_scale_and_pans(page: Any, site: Site, shots: Path) -> None:
    eid = site.world.ingest(score=0.87)
    page.goto(f"{site.url}/console/events/{eid}")
    _images_loaded(page)
    img = 'figure[data-role="entry"] img.evidence-img'
    vp = 'figure[data-role="entry"] .zoom'
    fit = _box(page, img)
    natural = page.eval_on_selector(img, "e => e.naturalWidth")
    assert fit["w"] > 500, fit  # a large still (was ~329 px)
    assert natural > 0
    page.click('figure[data-role="entry"] [data-zoom="in"]')
    page.click('figure[data-role="entry"] [data-zoom="in"]')
    zoomed = _box(page, img)
    assert zoomed["w"] / fit["w"] == pytest.approx(2.25, rel=0.01)
    assert page.inner_text('figure[data-role="entry"] .zoom-level') == "225%"
    # The viewport keeps its size: the image is magnified inside it, not the page.
    assert _box(page, vp)["w"] == pytest.approx(fit["w"], abs=2)
    # The overlay is drawn in the same zoomed element: it scales with the image.
    canvas = _box(page, 'figure[data-role="entry"] canvas.overlay')
    assert canvas["w"] == pytest.approx(zoomed["w"], rel=0.01)
    # Pan with the keyboard on the focused frame, then the wheel zooms further.
    page.focus(vp)
    x0 = _box(page, img)["x"]
    page.keyboard.press("ArrowRight")
    assert _box(page, img)["x"] < x0
    b = _box(page, vp)
    page.mouse.move(b["x"] + b["w"] / 2, b["y"] + b["h"] / 2)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -100)
    page.keyboard.up("Control")
    page.wait_for_function(f"() => document.querySelector('{vp}').dataset.zoom > 2.25")
    shot(page, shots, "console_event_zoomed")
    page.keyboard.press("0")
    assert _box(page, img)["w"] == pytest.approx(fit["w"], abs=1)
    # The violator enlarged beside the still, from that frame's box.
    crop = page.eval_on_selector(
        'figure[data-role="entry"] canvas.violator-crop',
        "c => ({drawn: c.dataset.drawn, w: c.width, h: c.height, k: Number(c.dataset.scale)})",
    )
    assert crop["drawn"] == "1" and crop["k"] > 0 and crop["w"] > 0


def _shortcuts_saved(page: Any, on: bool) -> None:
    """Wait until the page says the account has the setting (the save is a fetch)."""
    page.wait_for_function(
        "on => document.getElementById('prefs-form').dataset.shortcuts === on"
        " && document.getElementById('prefs-status').textContent.includes('saved')",
        arg="on" if on else "off",
    )


def test_shortcuts_switched_off_follow_the_account_into_another_browser(
    browser: Any, page: Any, site: Site
) -> None:
    """WCAG 2.1.4 per account: switched off in one browser context, they are off in a
    second, fresh one (no shared storage) for the same user — and only for that user."""
    eid = site.world.ingest(score=0.87)
    page.goto(f"{site.url}/console/events/{eid}")
    assert page.is_checked("#shortcuts-toggle")
    page.uncheck("#shortcuts-toggle")
    _shortcuts_saved(page, on=False)
    assert page.is_hidden("#shortcut-hint")
    # A second browser context: its own cookies and localStorage, a new login.
    other = browser.new_context(viewport={"width": 1440, "height": 900})
    second = other.new_page()
    _login(second, site.url)
    assert second.evaluate("localStorage.length") == 0
    second.goto(f"{site.url}/console/events/{eid}")
    assert not second.is_checked("#shortcuts-toggle")  # the account's choice
    assert second.is_hidden("#shortcut-hint")
    seq = site.last_seq()
    second.keyboard.press("2")
    assert second.input_value("#reason") == ""
    second.select_option("#reason", "wrong_person")
    second.focus("body")
    for key in ("r", "c", "n"):
        second.keyboard.press(key)
    second.wait_for_timeout(700)  # a submit or navigation would have begun by now
    assert second.url.endswith(f"/console/events/{eid}")
    assert not second.is_visible("#confirm-dialog")
    assert site.status(eid) == "pending_review"
    assert "event.dismiss" not in site.actions_after(seq)
    # Another operator's shortcuts are untouched (their own event: olive claims this one).
    theirs = browser.new_context(viewport={"width": 1440, "height": 900})
    otto = theirs.new_page()
    _login(otto, site.url, "otto")
    otto.goto(f"{site.url}/console/events/{site.world.ingest(score=0.87)}")
    assert otto.is_checked("#shortcuts-toggle")
    theirs.close()
    # On again in the second browser: the first sees it on its next page load.
    second.check("#shortcuts-toggle")
    _shortcuts_saved(second, on=True)
    assert second.is_visible("#shortcut-hint")
    other.close()
    page.reload()
    assert page.is_checked("#shortcuts-toggle")
    page.keyboard.press("2")
    assert page.input_value("#reason") == "wrong_person"


def test_confirm_shortcut_asks_before_issuing_a_fine(page: Any, site: Site, shots: Path) -> None:
    eid = site.world.ingest(score=0.87)
    page.goto(f"{site.url}/console/events/{eid}")
    assert page.is_checked("#shortcuts-toggle")
    page.keyboard.press("c")
    page.wait_for_selector("#confirm-dialog[open]")
    shot(page, shots, "console_event_confirm_step")
    assert site.status(eid) == "pending_review"  # one key issued nothing
    page.keyboard.press("Escape")
    page.wait_for_selector("#confirm-dialog:not([open])", state="attached")
    page.wait_for_timeout(300)
    assert site.status(eid) == "pending_review"
    page.keyboard.press("c")
    page.wait_for_selector("#confirm-dialog[open]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/**done=confirmed*")
    assert site.status(eid) == "confirmed"


def test_captured_and_enrolled_faces_at_the_same_size(page: Any, site: Site, shots: Path) -> None:
    eid = site.world.ingest(score=0.87)
    page.goto(f"{site.url}/console/events/{eid}")
    _images_loaded(page)
    cap, enr = "img.captured-face", "img.enrolled-face"
    assert page.get_attribute(enr, "data-cropped") == "1"
    nat = {
        s: page.eval_on_selector(s, "e => [e.naturalWidth, e.naturalHeight]") for s in (cap, enr)
    }
    with Image.open(REFERENCE) as im:
        photo_size = im.size
    assert nat[enr][0] < photo_size[0] / 2 and nat[enr][1] < photo_size[1] / 2  # the face only
    a, b = _box(page, cap), _box(page, enr)
    assert a["h"] == pytest.approx(b["h"], abs=0.5) and a["h"] >= 150
    for sel, box in ((cap, a), (enr, b)):  # proportions kept (no stretch, no cut)
        assert box["w"] / box["h"] == pytest.approx(nat[sel][0] / nat[sel][1], rel=0.02), sel
    # Zoom both at once: they stay the same size.
    page.fill("#face-zoom", "2")
    page.dispatch_event("#face-zoom", "input")
    a2, b2 = _box(page, cap), _box(page, enr)
    assert a2["h"] == pytest.approx(2 * a["h"], rel=0.01)
    assert b2["h"] == pytest.approx(2 * b["h"], rel=0.01)
    page.fill("#face-zoom", "1")
    page.dispatch_event("#face-zoom", "input")
    facts = page.inner_text("#match-facts")
    assert "0.870" in facts and "0.363" in facts and "+0.507 (above the threshold)" in facts
    assert "No other candidates" in page.inner_text("#alternatives")  # none sent here
    # The person id does not wrap ("p-/obama").
    assert page.eval_on_selector("#match-facts .pid", "e => e.getClientRects().length") == 1
    assert a["y"] == pytest.approx(b["y"], abs=1)  # side by side, not one under the other
    shot(page, shots, "console_event_face_comparison")
    check_page(page)


def test_people_see_labels_not_codes_and_one_read_entry_per_view(page: Any, site: Site) -> None:
    eid = site.world.ingest(score=0.87)
    seq = site.last_seq()
    page.goto(f"{site.url}/console/events/{eid}")
    _images_loaded(page)
    main = page.inner_text("main")
    assert "Waiting for review" in main and "Crossing against a red pedestrian signal" in main
    for code in ("pending_review", "PED_RED", "wrong_person", "not_a_violation"):
        assert code not in main, code
    # One grouped entry for the page and everything it loaded (stills, face, photo).
    # (The case claim of helper "queue" is an entry of its own, not a read.)
    reads = [a for a in site.actions_after(seq) if a.endswith((".read", "_read"))]
    assert reads == ["event.read"]
    page.select_option("#reason", "wrong_person")
    page.click("#reject-btn")
    page.wait_for_url("**/console/**done=dismissed*")
    page.goto(f"{site.url}/console/events/{eid}")
    decided = page.inner_text("main")
    assert "Decided: Dismissed (Wrong person (the face match is wrong))" in decided
    assert not re.search(r"\b(wrong_person|dismissed)\b", decided)


def _appeal(site: Site) -> int:
    """A confirmed event with its fine appealed (the supervisor's page to decide)."""
    w = site.world
    eid = w.ingest(score=0.87)
    with w.ctx.sessions.begin() as s:
        u = s.execute(sa.select(User).where(User.username == "olive")).scalar_one()
        fine = wf_confirm(s, Actor(u.username, u.role, u.id), w.ctx.rules, eid).fine
        assert fine is not None
        a = appeals.submit_appeal(
            s, SUPERVISOR, w.ctx.evidence, w.ctx.rules, fine.reference, "I was not there."
        )
        return a.id


@pytest.mark.parametrize(("width", "height"), VIEWPORTS)
def test_appeal_decision_bar_stays_in_view(
    browser: Any, site: Site, width: int, height: int, shots: Path
) -> None:
    """The supervisor reads the appeal's evidence with the decision (reasons, Uphold,
    Deny) on screen, as the operator does on the event page."""
    appeal_id = _appeal(site)
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    _login(page, site.url, "sam")
    page.goto(f"{site.url}/console/appeals/{appeal_id}")
    _images_loaded(page)
    # The page is longer than the window: the bar is not simply at the end of it.
    assert page.evaluate("document.documentElement.scrollHeight") > height + 200

    def in_view(where: str) -> None:
        for sel in ("#review-btn", "#note", "#uphold-btn", "#deny-btn"):
            b = _box(page, sel)
            assert b["y"] >= 0 and b["y"] + b["h"] <= height, (where, sel, b, height)
            assert b["x"] >= 0 and b["x"] + b["w"] <= width, (where, sel, b, width)

    assert page.evaluate("window.scrollY") == 0
    in_view("top")
    page.evaluate("window.scrollTo(0, 600)")
    assert page.evaluate("window.scrollY") > 0
    in_view("scrolled")
    # What the supervisor sees (the window, not the whole page: the bar is sticky).
    page.screenshot(path=str(shots / f"console_appeal_bar_{width}x{height}.png"))
    # The bar does not hide the evidence: the first still starts above it.
    page.evaluate("window.scrollTo(0, 0)")
    bar, still = _box(page, "#appeal-bar"), _box(page, "figure img.evidence-img")
    assert still["y"] < bar["y"], (still, bar)
    assert bar["h"] < height / 3, bar
    check_page(page)
    # And it still decides: reasons are required, then Deny works from the bar.
    page.click("#review-btn")
    page.wait_for_selector("#appeal-bar #deny-btn")
    assert page.inner_text("#appeal-state") == "under review"
    assert page.locator("#review-btn").count() == 0
    page.fill("#note", "The evidence shows the crossing on red.")
    page.click("#deny-btn")
    page.wait_for_url("**/console/appeals?done=denied")
    page.goto(f"{site.url}/console/appeals/{appeal_id}")
    assert page.locator("#appeal-bar").count() == 0  # decided: nothing left to decide
    ctx.close()


def test_the_matchers_runner_ups_beside_the_match_at_the_same_scale(
    page: Any, site: Site, shots: Path
) -> None:
    """Issue 17: the other candidates the gateway's matcher ranked, each with its enrolled
    face cropped like the captured one, at the same height, zoomed with it, with score
    and gap to the match; only confirm/reject to act on."""
    from central.workflow.persons import enrol

    w = site.world
    ids = []
    with w.ctx.sessions.begin() as s:
        for name, phone in (("biden", "+447911000011"), ("astronaut", "+447911000012")):
            p = enrol(s, ADMIN, w.ctx.rules, phone, "road traffic act s.12", name=name)
            photo = PHOTOS / f"{name}.jpg"
            photos.add_photos(s, ADMIN, w.ctx.evidence, p.id, [(photo.name, photo.read_bytes())])
            ids.append(p.id)
    eid = w.ingest(score=0.87, alternatives=[(ids[0], 0.41), (ids[1], 0.18)])
    seq = site.last_seq()
    page.goto(f"{site.url}/console/events/{eid}")
    _images_loaded(page)
    items = page.locator("#alternatives li")
    assert items.count() == 2
    first, second = items.nth(0).inner_text(), items.nth(1).inner_text()
    assert ids[0] in first and "0.410" in first and "0.460 below the match" in first
    assert ids[1] in second and "0.180" in second and "0.690 below the match" in second
    assert "above the threshold" in first  # 0.41 > 0.363: the close rival a reviewer must see
    assert "0.460" in page.inner_text("#lead")
    alt = "#alternatives li:nth-child(1) img.alt-face"
    assert page.get_attribute(alt, "data-cropped") == "1"
    nat = page.eval_on_selector(alt, "e => [e.naturalWidth, e.naturalHeight]")
    with Image.open(PHOTOS / "biden.jpg") as im:
        assert nat[0] < im.size[0] and nat[1] < im.size[1]  # the face crop, not the photo
    cap, a = _box(page, "img.captured-face"), _box(page, alt)
    assert a["h"] == pytest.approx(cap["h"], abs=0.5)  # the same scale as the captured face
    assert a["w"] / a["h"] == pytest.approx(nat[0] / nat[1], rel=0.02)  # proportions kept
    page.fill("#face-zoom", "2")
    page.dispatch_event("#face-zoom", "input")
    assert _box(page, alt)["h"] == pytest.approx(2 * a["h"], rel=0.01)
    assert _box(page, "img.captured-face")["h"] == pytest.approx(2 * cap["h"], rel=0.01)
    page.fill("#face-zoom", "1")
    page.dispatch_event("#face-zoom", "input")
    # No control acts on a candidate: the page's forms are the decision bar's only.
    actions = page.eval_on_selector_all("form", "fs => fs.map(f => f.getAttribute('action'))")
    assert all("alternative" not in (x or "") for x in actions)
    assert page.locator("#alternatives button, #alternatives a").count() == 0
    # One audit entry for the view (the candidates' photos listed in it), nothing per photo.
    assert site.actions_after(seq).count("event.read") == 1
    assert "person.photo_read" not in site.actions_after(seq)
    page.locator("#alternatives").scroll_into_view_if_needed()
    shot(page, shots, "console_event_alternatives")
    check_page(page)
