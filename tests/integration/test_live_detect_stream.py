"""A live camera pair through ``jaywatch edge run``: the detect stream on a real live sub.

The camera is tests/live_pair.py: one clock encoding vtest_road (real pedestrians) in
real time as a 1280x720 main stream and a 640x360 sub stream, MPEG-TS over TCP on
loopback, read by the gateway as a camera's two URLs (``source`` and
``detect_stream.source``). Real mosquitto with the shipped ACL, central's real ingest.

What the user needs from it, asserted here:
* main frames are paired with their sub frames (the sub frame of a moment arrives a few ms
  after the main one; the pairer waits for it up to ``max_skew_s``): >= 60 % of the frames
  after the start-up second (see PAIRED: 3 % without the wait);
* the scene's violations (at 9.0-9.3 s) are found, boxes in main pixels, stills at the
  main stream's full resolution, and neither the log nor the health claims a problem;
* a careless sub stream: one that stops while main goes on (frames keep coming, detected
  on the main image, the violations still found, one warning, the health says so); one
  with another aspect that also changes resolution and whose timestamps jump forward and
  then back (pairing is by arrival, so it keeps pairing, boxes stay in main pixels); one
  that starts late (main frames detected on the main image until it is there, no alarm
  inside the start-up grace).

Counts, not timings: the only times are the scene's own (ground truth, 1.5 s tolerance).
"""

from __future__ import annotations

import base64
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from edge.evaluation import match_violations
from tests.integration.helpers import (
    SCENES,
    Central,
    StatusWatcher,
    gateway_yaml,
    ground_truth,
    secure_broker,
    start_edge,
    wait_until,
)
from tests.live_pair import LivePair

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SCENE = SCENES / "vtest_road"
MAIN_W, MAIN_H = 1280, 720
SX, SY = MAIN_W / 768, MAIN_H / 576
END_S = 16.0  # the group enters at 9.0-9.3 s while red (since 4.0 s), judged ~1.3 s later
MIN_FRAMES = 40
# Paired fraction of the frames after the first second. Measured: 3 % without the wait,
# 97.9 % with it at load 3-5 (bench/bench_live_pairing.py); through edge run at load
# 11-14 on 2 cores 78-97 % (the sub's reader thread is starved). 0.6 is below every
# loaded run and far above the no-wait pairing, so it catches the wait breaking.
PAIRED = 0.6
PAIRED_LINE = re.compile(r"camera live-road detect stream: (\d+) of (\d+) frames paired")


def _camera(tmp: Path, pair: LivePair) -> Path:
    cam = yaml.safe_load((SCENE / "camera.yaml").read_text())
    cam["id"] = "live-road"
    cam["source"] = pair.main.url
    zone = cam["crossing"]["zone"]
    cam["crossing"]["zone"] = [[round(x * SX, 1), round(y * SY, 1)] for x, y in zone]
    x, y, w, h = cam["signal"]["roi"]
    cam["signal"]["roi"] = [round(x * SX), round(y * SY), round(w * SX), round(h * SY)]
    cam["detect_stream"] = {"source": pair.sub.url, "max_skew_s": 0.05}
    # gap_reset_s above the default 2: on a loaded CI machine a 2-s stall of this process
    # or the gateway would reset the red start (4 s) the entries at 9 s are judged by.
    cam["stream"] = {"read_timeout_s": 5, "reconnect_max_s": 1, "gap_reset_s": 5}
    cam["evidence"] = {"clip": False}
    path = tmp / "live-road.yaml"
    path.write_text(yaml.safe_dump(cam))
    return path


def _expected_in_window() -> list[dict[str, Any]]:
    out = []
    for e in ground_truth("vtest_road")["expected_violations"]:
        if e["t_entry_s"] < END_S - 2:
            x, y = e["foot_xy"]
            out.append({**e, "foot_xy": [x * SX, y * SY]})
    return out


def _run(make_broker, tmp_path: Path, pair: LivePair) -> dict[str, Any]:
    """Run the gateway on ``pair`` until the clip ends; what it stored, logged, reported."""
    from jaywatch import wire

    broker = secure_broker(make_broker, tls=False)
    key = wire.generate_device_key()
    central = Central.create(f"sqlite:///{tmp_path / 'central.db'}", tmp_path / "central", broker)
    central.register("gw-a", key, ["live-road"])
    central.start()
    watch = StatusWatcher(broker, "gw-a")
    cfg = gateway_yaml(tmp_path / "gw", "gw-a", broker, [_camera(tmp_path, pair)], key)
    log = tmp_path / "edge.log"
    proc = start_edge(cfg, log, "--drain-s", "30")
    try:
        # The clip's clock starts once the gateway has both streams open (model loaded):
        # the red start at 4 s must be seen for the entries at 9 s to be judged.
        wait_until(
            lambda: (
                (pair.main.connections >= 1 and pair.sub.connections >= 1)
                or (pair.sub_late and pair.main.connections >= 1)
                or proc.poll() is not None
            ),
            240,
            "the gateway to open the camera's streams",
        )
        assert proc.poll() is None, log.read_text()[-3000:]
        t0_wall = time.time()
        pair.start()
        wait_until(lambda: pair.done.is_set(), END_S + 120, "the clip to end")
        # Violations are judged ~1.3 s after the entry and rendered on their own thread.
        wait_until(lambda: central.count() >= 1, 120, "an event at central")
        time.sleep(5.0)  # later ones of the same moment
        statuses = list(watch.seen)
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(120) == 0, log.read_text()[-3000:]
        text = log.read_text()
        pair.stop()
        events = central.events()
        stills = []
        for ev in events:
            for img in central.rebuild_signed(ev).evidence:
                jpg = np.frombuffer(base64.b64decode(img.jpeg_b64), np.uint8)
                stills.append((img.role, cv2.imdecode(jpg, cv2.IMREAD_COLOR)))
        found = PAIRED_LINE.findall(text)
        assert found, text[-3000:]
        paired, frames = map(int, found[-1])
        return {
            "events": events,
            "stills": stills,
            "log": text,
            "paired": paired,
            "frames": frames,
            "statuses": statuses,
            "t0_wall": t0_wall,
            # How late the camera itself was at worst (its thread shares this process).
            "camera_worst_pacing_s": pair.worst_pacing_s(),
        }
    finally:
        if proc.poll() is None:
            proc.kill()
        watch.close()
        central.close()
        pair.stop_quietly()


def _reported(run: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for e in run["events"]:
        x1, _y1, x2, y2 = e.payload["bbox"]
        occurred = e.payload["occurred"]
        t = _wall(occurred) - run["t0_wall"]
        out.append({"t": t, "foot": [(x1 + x2) / 2, y2], "bbox": e.payload["bbox"]})
    return out


def _wall(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _assert_violations_in_main_pixels(run: dict[str, Any]) -> None:
    reported = _reported(run)
    for r in reported:
        x1, y1, x2, y2 = r["bbox"]
        assert 0 <= x1 < x2 <= MAIN_W and 0 <= y1 < y2 <= MAIN_H, r
    expected = _expected_in_window()
    tol = ground_truth("vtest_road")["match_tolerance"]
    pairs = match_violations(expected, reported, tol["dt_s"], tol["foot_px"] * SX)
    why = (reported, expected, run["camera_worst_pacing_s"])
    # Every report is one of the scene's violations (in main pixels, at its moment) ...
    assert len(pairs) == len(reported), why
    # ... and the group of three is found: the SSD often sees the couple as one box
    # (ground truth's note), so 2 of 3 is the most a box-per-track rule can be held to.
    assert len(pairs) >= 2, why
    assert run["stills"]
    for role, img in run["stills"]:
        if role != "face":
            assert img is not None and img.shape[1] == MAIN_W and img.shape[0] >= MAIN_H, role


def _checks(run: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (c.check, c.reason)
        for s in run["statuses"]
        for cam in s.cameras
        if cam.camera_id == "live-road"
        for c in cam.checks
    ]


def _detect_stream_warnings(text: str) -> list[str]:
    return [
        ln
        for ln in text.splitlines()
        if "WARNING" in ln and "detect stream" in ln and "live-road" in ln
    ]


@pytest.mark.timeout(600)
def test_live_pair_is_paired_and_finds_the_violations_in_main_pixels(
    make_broker, tmp_path: Path
) -> None:
    run = _run(make_broker, tmp_path, LivePair(SCENE / "video.mp4", end_s=END_S))
    # Frames kept coming: >= 3 a second of the 10 sent over 16 s (a loaded machine drops
    # the rest, newest kept). The first second after each open is not paired (the
    # demuxer's backlog): up to ~12 frames.
    assert run["frames"] >= MIN_FRAMES, run["log"][-2000:]
    assert run["paired"] >= PAIRED * (run["frames"] - 12), (run["paired"], run["frames"])
    _assert_violations_in_main_pixels(run)
    assert not [c for c in _checks(run) if c[0] == "detect_stream"]
    assert not _detect_stream_warnings(run["log"]), run["log"][-3000:]


@pytest.mark.timeout(600)
def test_sub_stream_stopping_while_main_goes_on(make_broker, tmp_path: Path) -> None:
    pair = LivePair(SCENE / "video.mp4", end_s=END_S)
    pair.sub_down(5.0)  # for good: the sub encoder dies, the main one goes on
    run = _run(make_broker, tmp_path, pair)
    # Frames kept coming at the analysis rate after the sub stream went (5 s .. 16 s) ...
    assert run["frames"] >= MIN_FRAMES, run["log"][-2000:]
    # ... detected on the main image: paired only before it went (~40 of the first 50),
    # and the 11 s after it were detected on the main image.
    assert run["paired"] <= 52, (run["paired"], run["frames"])
    assert run["frames"] - run["paired"] >= 20, (run["paired"], run["frames"])
    _assert_violations_in_main_pixels(run)
    # One warning for the whole outage, and the health said so while it lasted.
    warnings = _detect_stream_warnings(run["log"])
    assert len(warnings) == 1 and "main image" in warnings[0], warnings
    downs = [r for k, r in _checks(run) if k == "detect_stream"]
    assert downs and all("sub stream down" in r for r in downs), _checks(run)
    ups = [c.up for s in run["statuses"] for c in s.cameras if c.camera_id == "live-road"]
    assert ups.count(True) >= 5  # the camera stayed up (heartbeat every 1 s)


@pytest.mark.timeout(600)
def test_careless_sub_stream_other_aspect_resized_and_timestamps_jumping(
    make_broker, tmp_path: Path
) -> None:
    pair = LivePair(SCENE / "video.mp4", end_s=END_S, sub_size=(640, 480))  # 4:3 of 16:9
    pair.sub_pts_offset(3.0, 10_000.0)  # the sub's timestamps jump forward ...
    pair.sub_size(6.0, (480, 270))  # ... its resolution changes mid-stream ...
    pair.sub_pts_offset(8.0, 0.0)  # ... and its timestamps go back (10,000 s)
    run = _run(make_broker, tmp_path, pair)
    assert run["frames"] >= MIN_FRAMES, run["log"][-2000:]
    # Paired by arrival on the gateway's clock: the sub's own timestamps do not matter.
    # Each of the 3 encoder restarts costs up to a GOP (10 frames) until its keyframe.
    assert run["paired"] >= PAIRED * (run["frames"] - 12 - 30), (run["paired"], run["frames"])
    _assert_violations_in_main_pixels(run)
    assert "detect stream: frames now 480x270" in run["log"]
    aspect = [w for w in _detect_stream_warnings(run["log"]) if "another aspect" in w]
    assert len(aspect) == 1 and "640x480" in aspect[0] and "1280x720" in aspect[0], aspect


@pytest.mark.timeout(600)
def test_sub_stream_starting_late(make_broker, tmp_path: Path) -> None:
    pair = LivePair(SCENE / "video.mp4", end_s=END_S)
    pair.sub_down(0.0, 3.0)  # inside the start-up grace (stream.read_timeout_s 5 s)
    run = _run(make_broker, tmp_path, pair)
    assert run["frames"] >= MIN_FRAMES, run["log"][-2000:]
    # Main frames before it came (3 s, plus the reader's back-off and its first second)
    # were detected on the main image; those after were paired.
    assert run["paired"] >= PAIRED * (run["frames"] - 12 - 50), (run["paired"], run["frames"])
    assert run["frames"] - run["paired"] >= 12  # >= 4 s at >= 3 frames a second
    _assert_violations_in_main_pixels(run)
    # Inside the start-up grace nothing is claimed; on a loaded machine the reader's
    # back-off can push its first frame past it: then one warning, and its return.
    warnings = _detect_stream_warnings(run["log"])
    assert len(warnings) <= 1, warnings
    if warnings:
        assert "no sub-stream frame yet" in warnings[0]
        assert "sub stream back; pairing again" in run["log"].split(warnings[0])[1]
