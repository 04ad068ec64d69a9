"""Real Chromium on the real `jaywatch edge calibrate` process: the installer clicks the
carriageway polygon and drags the signal ROI on the live frame, sees the phase read in
that ROI, saves; the YAML has the new points with its comments and other keys kept, a
reference frame is stored, and `jaywatch edge check` accepts the result. A wrong or
missing token gets 403."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import pytest
import yaml

from tests.browser.a11y import check_page
from tests.services import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
SCENE = REPO / "sample_media" / "scenes" / "synthetic_rules"
DOCS_SHOT = REPO / "docs" / "calibrate.png"  # JAYWATCH_UPDATE_DOCS=1 refreshes it

CAMERA = f"""\
# Camera at the test crossing (installer's notes stay)
id: synthetic-rules
source: {SCENE / "video.mp4"}
fps: 10.0
place: synthetic crossing (sample)   # shown on the notice
signal:
  source: roi
  roi: [300, 300, 30, 60]            # a wrong guess, fixed on the page
  stop_colour: red
  walk_colour: green
crossing:
  zone:
  - [10, 10]
  - [60, 10]
  - [60, 60]
  # entering while red for longer than this is an offence
  grace_s: 0.7
  debounce_s: 0.3
detector:
  threads: 1                          # a small gateway
"""
NEW_ZONE = [[90, 160], [370, 10], [720, 10], [600, 240], [180, 180]]
HEAD = [14, 34, 40, 80]  # where the sample scene's signal head is drawn
GRASS = [700, 480, 40, 40]  # no signal there


@pytest.fixture
def calibrate(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen]]:
    cam = tmp_path / "cam.yaml"
    cam.write_text(CAMERA)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jaywatch_app.cli",
            "edge",
            "calibrate",
            str(cam),
            "--port",
            str(port),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "calibrate.log").open("wb"),
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the first frame is in
        m = re.search(r"open (http://127\.0\.0\.1:\d+/\?token=\S+)", line)
        assert m, line + (tmp_path / "calibrate.log").read_text()
        yield m.group(1), cam, proc
    finally:
        proc.terminate()
        proc.wait(10)


def canvas_point(page: Any, x: float, y: float) -> tuple[float, float]:
    box = page.locator("#view").bounding_box()
    w, h = page.evaluate("[canvas.width, canvas.height]")
    return box["x"] + x * box["width"] / w, box["y"] + y * box["height"] / h


def drag_roi(page: Any, roi: list[int]) -> None:
    page.get_by_role("button", name="Signal ROI: drag").click()
    x, y, w, h = roi
    page.mouse.move(*canvas_point(page, x, y))
    page.mouse.down()
    page.mouse.move(*canvas_point(page, x + w / 2, y + h / 2), steps=3)
    page.mouse.move(*canvas_point(page, x + w, y + h), steps=3)
    page.mouse.up()


def phase(page: Any) -> str:
    return page.locator("#phase").inner_text()


def wait_phase(page: Any, allowed: set[str], timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (p := phase(page)) in allowed:
            return p
        time.sleep(0.2)
    raise AssertionError(f"phase {phase(page)!r}, expected one of {allowed}")


def test_installer_clicks_zone_drags_roi_and_saves(
    browser: Any, calibrate: tuple[str, Path, subprocess.Popen], shots: Path
) -> None:
    url, cam, proc = calibrate
    base, token = url.split("/?token=")
    # The token is the only key: without it nothing is served, not even the page.
    for path in ("/", "/state", "/frame.jpg", "/reference.jpg"):
        assert httpx.get(f"{base}{path}", params={"token": token + "x"}).status_code == 403
        assert httpx.get(f"{base}{path}").status_code == 403
    r = httpx.post(f"{base}/save", params={"token": "nope"}, json={"zone": NEW_ZONE})
    assert r.status_code == 403
    assert cam.read_text() == CAMERA  # nothing was written by the refused save

    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_function("document.body.dataset.ready === '1' && loaded")
    assert page.locator("#size").inner_text() == (
        "768×576 frame of the main stream (the detector sees it too)"
    )

    # The live reading follows the ROI being drawn: nothing on the grass, the head's
    # phase (the sample scene starts green, turns red at 8 s) on the signal head.
    drag_roi(page, GRASS)
    wait_phase(page, {"dark", "unknown"})
    drag_roi(page, HEAD)
    seen = wait_phase(page, {"green", "red"})

    page.get_by_role("button", name="Zone: click points").click()
    page.get_by_role("button", name="Clear zone").click()
    for x, y in NEW_ZONE:
        page.mouse.click(*canvas_point(page, x, y))
    points = page.locator("#points li").all_inner_texts()
    assert len(points) == len(NEW_ZONE)
    page.get_by_role("button", name="Save").click()
    page.wait_for_function("document.getElementById('status').className === 'ok'")
    assert "Saved" in page.locator("#status").inner_text()
    page.wait_for_function(
        "(() => { const i = document.getElementById('reference');"
        " return !i.hidden && i.complete && i.naturalWidth === 768; })()"
    )
    check_page(page)
    page.screenshot(path=str(shots / "calibrate.png"), full_page=True)
    if os.environ.get("JAYWATCH_UPDATE_DOCS"):  # the README's picture; not on every run
        page.screenshot(path=str(DOCS_SHOT), full_page=True)

    text = cam.read_text()
    saved = yaml.safe_load(text)
    got = saved["crossing"]["zone"]
    assert len(got) == len(NEW_ZONE)
    for (gx, gy), (x, y) in zip(got, NEW_ZONE, strict=True):
        assert abs(gx - x) <= 1 and abs(gy - y) <= 1, (got, NEW_ZONE)
    assert all(abs(a - b) <= 1 for a, b in zip(saved["signal"]["roi"], HEAD, strict=True))
    # Comments, other keys and their order are kept.
    for kept in (
        "# Camera at the test crossing (installer's notes stay)",
        "place: synthetic crossing (sample)   # shown on the notice",
        "# entering while red for longer than this is an offence",
        "threads: 1                          # a small gateway",
        "stop_colour: red",
    ):
        assert kept in text, text
    assert saved["crossing"]["grace_s"] == 0.7 and saved["detector"] == {"threads": 1}
    assert list(saved) == [
        "id",
        "source",
        "fps",
        "place",
        "signal",
        "crossing",
        "detector",
        "health",
    ]
    ref = cam.parent / saved["health"]["reference"]
    img = cv2.imread(str(ref))
    assert img is not None and img.shape == (576, 768, 3)

    # The saved file is a camera the installer's check accepts, reading the same head.
    argv = ["edge", "check", str(cam), "--seconds", "3", "--json"]
    r = subprocess.run(
        [sys.executable, "-m", "jaywatch_app.cli", *argv],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert '"phase": "green"' in r.stdout and seen in ("green", "red")

    # A bad save (a point outside the frame) is refused with the key named; file untouched.
    page.get_by_role("button", name="Clear zone").click()
    for x, y in [[10, 10], [100, 10], [100, 100]]:
        page.mouse.click(*canvas_point(page, x, y))
    page.evaluate("zone.push([5000, 10]); showLists()")
    page.get_by_role("button", name="Save").click()
    page.wait_for_function("document.getElementById('status').className === 'error'")
    assert (
        "crossing.zone: point 3 [5000, 10] is outside the 768×576 frame"
        in page.locator("#status").inner_text()
    )
    assert cam.read_text() == text
    assert proc.poll() is None
    ctx.close()
