"""Real Chromium: the operator's review page shows the matched person's enrolment photo
(actually loaded and decoded, not just an <img> tag) beside the captured face."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from central.workflow import photos
from tests.browser.a11y import check_page
from tests.browser.test_web_flow import shot
from tests.central.helpers import ADMIN
from tests.central.web.world import PASSWORDS, PHOTOS, World, build_world
from tests.services import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REFERENCE = PHOTOS / "obama3.jpg"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[World, str]]:
    w = build_world(f"sqlite:///{tmp_path / 'central.db'}", tmp_path)
    with w.ctx.sessions.begin() as s:
        photos.add_photos(
            s, ADMIN, w.ctx.evidence, w.person_id, [("obama3.jpg", REFERENCE.read_bytes())]
        )
    with LiveServer(w.app) as srv:
        yield w, srv.url
    w.web.hub.stop()
    w.ctx.close()


def loaded(page: Any, selector: str) -> list[int]:
    """naturalWidth of every matching image once it has finished loading."""
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(i => i.complete)", arg=selector
    )
    return page.eval_on_selector_all(selector, "els => els.map(e => e.naturalWidth)")


def test_review_page_shows_enrolment_photo_beside_capture(
    browser: Any, served: tuple[World, str], shots: Path
) -> None:
    world, url = served
    matched = world.ingest(score=0.87)
    unidentified = world.ingest(matched=False)
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = ctx.new_page()
    page.goto(f"{url}/console/login")
    page.get_by_label("Username").fill("olive")
    page.get_by_label("Password").fill(PASSWORDS["olive"][1])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/queue")

    page.goto(f"{url}/console/events/{matched}")
    with Image.open(REFERENCE) as im:
        width = im.size[0]
    assert loaded(page, "img.enrolled-photo") == [width]  # the stored photo, decoded
    face = loaded(page, "img.captured-face")
    assert len(face) == 1 and face[0] > 0
    crop = loaded(page, "img.enrolled-face")  # its face crop, not the whole photo
    assert len(crop) == 1 and 0 < crop[0] < width
    facts = page.inner_text("#match-facts")
    assert world.person_id in facts and "0.870" in facts
    shot(page, shots, "console_event_enrolled_photo")
    check_page(page)

    page.goto(f"{url}/console/events/{unidentified}")
    assert page.locator("img.enrolled-photo").count() == 0
    assert page.locator("figure.enrolled").count() == 0
    assert "No match" in page.inner_text("section.match")
    ctx.close()
