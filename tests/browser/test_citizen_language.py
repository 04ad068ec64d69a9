"""The citizen's notice page in the notice's language and the site's time, in Chromium:
English, Greek and Arabic (right to left), the offence time in the site's time zone (the
event's ``site_tz``, not UTC), CLDR plural forms ("1 point", never "1 points")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from central.workflow.review import confirm as wf_confirm
from tests.central.helpers import OPERATOR
from tests.central.web.world import World, build_world
from tests.services import LiveServer

pytestmark = [pytest.mark.browser]
SITE_TZ = "Europe/Athens"
# Yesterday (ingest quarantines events dated long before their receipt) at 10:45 at the
# site: a morning hour reads the same on the 12- and 24-hour clocks of en/el/ar.
_day = (datetime.now(UTC) - timedelta(days=1)).date()
OCCURRED = datetime.combine(_day, time(10, 45), ZoneInfo(SITE_TZ)).astimezone(UTC)
UTC_HM = f"{OCCURRED.hour}:{OCCURRED.minute:02d}"  # 8:45 or 7:45: must not be shown
EXPECTED = {
    # language: (h1 starts with, "When" holds, one penalty point, direction)
    "en": ("Notice", "10:45", "1 point", "ltr"),
    "el": ("Κλήση", "10:45", "1 βαθμός", "ltr"),
    "ar": ("المخالفة", "10:45", "نقطة واحدة", "rtl"),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, str, str, str]]:
    tmp = tmp_path_factory.mktemp("lang")
    w = build_world(f"sqlite:///{tmp / 'central.db'}", tmp)
    eid = w.ingest(occurred=OCCURRED, site_tz=SITE_TZ)
    with w.ctx.sessions.begin() as s:
        fine = wf_confirm(s, OPERATOR, w.ctx.rules, eid).fine
    assert fine is not None and fine.points == 1  # the plural case this test is about
    with LiveServer(w.app) as srv:
        yield w, srv.url, fine.reference, w.access_code(fine.reference)
    w.web.hub.stop()
    w.ctx.close()


def open_notice(browser: Any, url: str, ref: str, code: str, lang: str) -> Any:
    page = browser.new_context().new_page()
    page.goto(f"{url}/notice?lang={lang}")
    assert page.get_attribute("html", "lang") == lang
    page.fill("#reference", ref)
    page.fill("#code", code)
    page.click("button.primary")
    page.wait_for_selector("#facts")
    return page


@pytest.mark.parametrize("lang", ["en", "el", "ar"])
def test_notice_page_in_each_language(
    browser: Any, served: tuple[World, str, str, str], lang: str, shots: Path
) -> None:
    _w, url, ref, code = served
    h1, when, one_point, direction = EXPECTED[lang]
    page = open_notice(browser, url, ref, code, lang)
    assert page.get_attribute("html", "lang") == lang
    assert page.get_attribute("html", "dir") == direction
    assert page.evaluate("getComputedStyle(document.querySelector('h1')).direction") == direction
    assert page.inner_text("h1").startswith(h1)
    shown = page.inner_text("#when")
    assert when in shown and SITE_TZ in shown and UTC_HM not in shown, shown
    assert page.inner_text("#points").strip() == one_point
    if lang != "en":  # no English label left in the facts
        facts = page.inner_text("#facts")
        for english in ("Status", "Offence", "Due date", "Penalty points", "Your score now"):
            assert english not in facts, (english, facts)
    page.screenshot(path=str(shots / f"notice_{lang}.png"), full_page=True)
    page.context.close()


def test_language_follows_the_browser_and_can_be_switched(
    browser: Any, served: tuple[World, str, str, str]
) -> None:
    _w, url, ref, code = served
    ctx = browser.new_context(
        locale="el-GR", extra_http_headers={"Accept-Language": "el-GR,el;q=0.9"}
    )
    page = ctx.new_page()
    page.goto(f"{url}/n/{ref}")
    assert page.get_attribute("html", "lang") == "el"
    assert page.inner_text("h1") == "Ανοίξτε την κλήση σας"
    page.fill("#code", code)
    page.click("button.primary")
    page.wait_for_selector("#facts")
    page.click("#lang-ar")  # re-posts reference and code; never puts the code in a URL
    page.wait_for_selector("#facts")
    assert page.get_attribute("html", "dir") == "rtl" and code not in page.url
    assert page.inner_text("#points").strip() == "نقطة واحدة"
    ctx.close()
