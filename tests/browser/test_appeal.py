"""An appeal with files in Debian's Chromium: the person attaches a photo and a PDF on
their phone, sees them and their statement back; the supervisor sees the photo and the
PDF, takes the appeal under review (the person sees it), denies with reasons; the
person sees the reasons and the new due date. Screenshots in artifacts/screenshots/."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from reportlab.pdfgen import canvas

from central.workflow.review import confirm as wf_confirm
from tests.browser.a11y import check_page
from tests.browser.test_web_flow import PHONE, login_keyboard_only, shot
from tests.central.helpers import OPERATOR
from tests.central.web.world import World, build_world
from tests.services import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[World, str]]:
    w = build_world(f"sqlite:///{tmp_path / 'central.db'}", tmp_path)
    with LiveServer(w.app) as srv:
        yield w, srv.url
    w.web.hub.stop()
    w.ctx.close()


def files(tmp: Path) -> tuple[Path, Path]:
    img = Image.new("RGB", (120, 90), (230, 40, 40))
    for x in range(120):
        img.putpixel((x, x * 90 // 120), (255, 255, 255))
    photo = tmp / "signal.jpg"
    img.save(photo, "JPEG")
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawString(72, 720, "Council repair log: signal head 3 dark")
    c.showPage()
    c.save()
    doc = tmp / "repair-log.pdf"
    doc.write_bytes(buf.getvalue())
    return photo, doc


def open_notice(page: Any, url: str, ref: str, code: str) -> None:
    page.goto(f"{url}/notice")
    page.get_by_label("Reference").fill(ref)
    page.get_by_label("Access code").fill(code)
    page.get_by_role("button", name="Open notice").click()
    page.wait_for_selector("#facts")


def test_appeal_with_files_seen_by_both_sides(
    browser: Any, served: tuple[World, str], shots: Path, tmp_path: Path
) -> None:
    world, url = served
    eid = world.ingest(score=0.87)
    with world.ctx.sessions.begin() as s:
        ref = wf_confirm(s, OPERATOR, world.ctx.rules, eid).fine.reference
    code = world.access_code(ref)
    photo, doc = files(tmp_path)

    cit_ctx = browser.new_context(**PHONE)
    cit = cit_ctx.new_page()
    open_notice(cit, url, ref, code)
    assert "days from" in cit.inner_text("#appeal-window")
    cit.get_by_label("Why is this notice wrong?").fill("The signal was dark; see the log.")
    cit.get_by_label(re.compile("Photos or documents")).set_input_files([str(photo), str(doc)])
    check_page(cit)
    cit.get_by_role("button", name="File appeal").click()
    assert "appeal has been received" in cit.inner_text("#message")
    assert cit.inner_text("#appeal-1-state") == "submitted"
    assert "see the log" in cit.inner_text("#appeal-1-statement")
    cit.wait_for_function(
        "() => [...document.querySelectorAll('img.appeal-photo')].every(i => i.naturalWidth > 0)"
    )
    assert cit.locator("img.appeal-photo").count() == 1
    assert cit.get_by_role("button", name="Download repair-log.pdf").count() == 1
    assert "Paused" in cit.inner_text("#due")
    assert "refunded" in cit.inner_text("#pay-while-appeal")
    assert cit.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(cit, shots, "notice_appeal_files_phone")
    check_page(cit)
    with cit.expect_download() as dl:
        cit.get_by_role("button", name="Download repair-log.pdf").click()
    saved = tmp_path / "got.pdf"
    dl.value.save_as(saved)
    assert saved.read_bytes() == doc.read_bytes()

    sup_ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    sup = sup_ctx.new_page()
    login_keyboard_only(sup, url, "sam")
    sup.goto(f"{url}/console/appeals")
    sup.get_by_role("link", name=re.compile("Open")).click()
    assert "see the log" in sup.inner_text("#statement-1")
    sup.wait_for_function(
        "() => [...document.querySelectorAll('img.appeal-photo')].every(i => i.naturalWidth > 0)"
    )
    size = sup.eval_on_selector("img.appeal-photo", "i => [i.naturalWidth, i.naturalHeight]")
    assert size == [120, 90]
    assert sup.get_by_role("link", name="repair-log.pdf").count() == 1
    shot(sup, shots, "console_appeal_files")
    check_page(sup)
    sup.get_by_role("button", name=re.compile("^Start review")).click()
    sup.wait_for_selector("#appeal-state")
    assert sup.inner_text("#appeal-state") == "under review"

    open_notice(cit, url, ref, code)
    assert cit.inner_text("#appeal-1-state") == "under review"

    sup.get_by_label("Reasons for the person").fill("The log shows head 3 lit at 08:14.")
    sup.get_by_role("button", name=re.compile("^Deny")).click()
    sup.wait_for_url("**/console/appeals?done=denied")

    open_notice(cit, url, ref, code)
    assert cit.inner_text("#appeal-1-state") == "denied"
    assert "head 3 lit at 08:14" in cit.inner_text("#appeal-1-reasons")
    # the new due date in the page's language and long date format, like the first one
    assert re.search(r"New due date: \w+ \d{1,2}, \d{4}\.", cit.inner_text("#appeal-1-due"))
    assert "Open — to pay by" in cit.inner_text("#status")
    shot(cit, shots, "notice_appeal_denied_phone")
    check_page(cit)
    for c in (cit_ctx, sup_ctx):
        c.close()
