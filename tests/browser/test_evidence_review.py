"""Real evidence from the edge pipeline (sample_media/faces/scene) in Debian's Chromium:
each still draws its own frame's box and foot point (checked against the scene's script),
and the clip plays (loads without error, its duration as signed, frame steps, speed) —
on the operator's review page and on the citizen's notice page.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from central.workflow.review import confirm as wf_confirm
from edge.capture import VideoFileSource
from edge.config import CameraConfig, load_camera_config
from edge.evidence_render import EvidenceRenderer, wall_clock
from edge.pipeline import build_pipeline
from jaywatch import wire
from tests.browser.a11y import check_page
from tests.central.helpers import OPERATOR
from tests.central.web.world import DEVICE, PASSWORDS, World, build_world
from tests.edge.faces.helpers import REPO, face_scene_true_box
from tests.services import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SCENE = REPO / "sample_media" / "faces" / "scene"
CYAN = (0, 229, 255)  # event.js: the person's box
MAGENTA = (255, 0, 212)  # event.js: the foot point


def _violation_a(cfg: CameraConfig, start: datetime) -> wire.ViolationEvent:
    """Walker A's violation as the gateway makes it: pipeline, renderer, wire event."""
    pipe = build_pipeline(cfg, None)
    for frame in VideoFileSource(SCENE / "video.mp4", cfg.fps):
        if found := pipe.process(frame):
            break
    v = EvidenceRenderer(cfg).render(found[0], wall_clock(start))
    return v.to_wire(
        DEVICE, start + timedelta(seconds=v.entry.t), [tuple(p) for p in cfg.crossing.zone],
        cfg.crossing.grace_s, signal_roi=cfg.signal.roi, site_tz=cfg.timezone, place=cfg.place,
    ).model_copy(update={"camera_id": "cam-1"})  # fmt: skip


@pytest.fixture(scope="module")
def event_a(tmp_path_factory) -> wire.ViolationEvent:
    import yaml

    data = yaml.safe_load((SCENE / "camera.yaml").read_text())
    data |= {"faces": {"enabled": False}, "timezone": "Europe/Berlin"}
    path = tmp_path_factory.mktemp("cam") / "camera.yaml"
    path.write_text(yaml.safe_dump(data))
    return _violation_a(load_camera_config(path), datetime.now(UTC) - timedelta(minutes=3))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[World, str]]:
    w = build_world(f"sqlite:///{tmp_path / 'central.db'}", tmp_path)
    with LiveServer(w.app) as srv:
        yield w, srv.url
    w.web.hub.stop()
    w.ctx.close()


def _login(page: Any, url: str, user: str) -> None:
    page.goto(f"{url}/console/login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(PASSWORDS[user][1])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/**")


def _drawn_extent(page: Any, role: str, rgb: tuple[int, int, int]) -> list[float] | None:
    """Bounding box (image pixels) of the overlay pixels of colour ``rgb`` on one still."""
    return page.evaluate(
        """([role, rgb]) => {
          const c = document.querySelector(`figure[data-role="${role}"] canvas.overlay`);
          const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
          let x1 = Infinity, y1 = Infinity, x2 = -1, y2 = -1;
          for (let i = 0; i < d.length; i += 4) {
            if (d[i + 3] < 200) continue;
            const off = Math.abs(d[i] - rgb[0]) + Math.abs(d[i + 1] - rgb[1])
              + Math.abs(d[i + 2] - rgb[2]);
            if (off > 30) continue;
            const p = i / 4, x = p % c.width, y = Math.floor(p / c.width);
            x1 = Math.min(x1, x); y1 = Math.min(y1, y); x2 = Math.max(x2, x); y2 = Math.max(y2, y);
          }
          return x2 < 0 ? null : [x1, y1, x2 + 1, y2 + 1];
        }""",
        [role, list(rgb)],
    )


def _check_stills(page: Any, ev: wire.ViolationEvent) -> None:
    page.wait_for_function(
        "() => document.querySelectorAll('canvas.overlay[data-drawn=\"1\"]').length === 3"
    )
    for img in ev.evidence:
        if img.role == "face":
            continue
        true = face_scene_true_box("A", img.frame)
        assert true is not None
        drawn = _drawn_extent(page, img.role, CYAN)
        assert drawn is not None, f"{img.role}: no box drawn"
        # The stroke straddles the box edge; the person's true box (from the scene's own
        # script) must lie inside what is drawn on THIS frame, up to the detector's error.
        assert _iou(drawn, true) > 0.75, (img.role, drawn, true)
        cx, cy = (true[0] + true[2]) / 2, (true[1] + true[3]) / 2
        assert drawn[0] <= cx <= drawn[2] and drawn[1] <= cy <= drawn[3]
        foot = _drawn_extent(page, img.role, MAGENTA)
        assert foot is not None
        fx, fy = (foot[0] + foot[2]) / 2, (foot[1] + foot[3]) / 2
        assert abs(fx - (true[0] + true[2]) / 2) < 15 and abs(fy - true[3]) < 15
        caption = page.inner_text(f'figure[data-role="{img.role}"] figcaption')
        assert f"frame {img.frame}" in caption and "signal red" in caption
        assert "Europe/Berlin" in caption and "UTC" in caption  # local time and UTC


def _check_clip(page: Any, ev: wire.ViolationEvent) -> None:
    assert ev.clip is not None
    page.wait_for_function(
        "() => { const v = document.getElementById('clip-video');"
        " return v.readyState >= 2 || v.error !== null; }"
    )
    state = page.evaluate(
        "() => { const v = document.getElementById('clip-video');"
        " return {ready: v.readyState, error: v.error && v.error.message, d: v.duration,"
        " w: v.videoWidth, h: v.videoHeight}; }"
    )
    assert state["error"] is None and state["ready"] >= 2, state
    expected = ev.clip.t_last - ev.clip.t_first + 1 / ev.clip.fps
    assert abs(state["d"] - expected) <= 1 / ev.clip.fps, (state, expected)
    assert (state["w"], state["h"]) == (ev.clip.width, ev.clip.height)
    # Frame steps and speed.
    shows_second = (
        "() => document.getElementById('clip-frame').textContent"
        f" === 'frame {ev.clip.frame_first + 1}'"
    )
    page.click("#clip-next")
    page.wait_for_function(shows_second)
    page.click("#clip-next")
    page.click("#clip-prev")
    page.wait_for_function(shows_second)
    page.select_option("#clip-speed", "0.5")
    assert page.evaluate("document.getElementById('clip-video').playbackRate") == 0.5


def test_review_page_draws_each_frames_truth_and_plays_the_clip(
    browser: Any, served: tuple[World, str], event_a: wire.ViolationEvent, shots: Path
) -> None:
    world, url = served
    eid = world.ingest_event(event_a)
    ctx = browser.new_context(viewport={"width": 1440, "height": 1100})
    page = ctx.new_page()
    _login(page, url, "olive")
    page.goto(f"{url}/console/events/{eid}")
    _check_stills(page, event_a)
    _check_clip(page, event_a)
    page.screenshot(path=str(shots / "console_event_clip.png"), full_page=True)
    check_page(page)
    ctx.close()


def test_citizen_page_draws_each_frames_truth_and_plays_the_clip(
    browser: Any, served: tuple[World, str], event_a: wire.ViolationEvent, shots: Path
) -> None:
    world, url = served
    matched = event_a.model_copy(
        update={
            "event_id": wire.new_event_id(),
            "match": wire.MatchResult(person_id=world.person_id, score=0.8, backend="sface"),
        }
    )
    eid = world.ingest_event(matched)
    with world.ctx.sessions.begin() as s:
        ref = wf_confirm(s, OPERATOR, world.ctx.rules, eid).fine.reference
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = ctx.new_page()
    page.goto(f"{url}/notice")
    page.get_by_label("Reference").fill(ref)
    page.get_by_label("Access code").fill(world.access_code(ref))
    page.get_by_role("button", name="Open notice").click()
    page.wait_for_selector("#facts")
    _check_stills(page, matched)
    _check_clip(page, matched)
    page.screenshot(path=str(shots / "notice_clip.png"), full_page=True)
    check_page(page)
    ctx.close()


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area > 0 else 0.0
