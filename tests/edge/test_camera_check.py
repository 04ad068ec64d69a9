"""`jaywatch edge check` on the sample scenes and on bad configs, through the CLI; and the
same geometry errors from `edge process` and the gateway worker: one line, never a traceback."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge.config import load_camera_config
from edge.gateway import CameraWorker

REPO = Path(__file__).resolve().parents[2]
SCENES = REPO / "sample_media" / "scenes"


def jaywatch(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jaywatch_app.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def scene_camera(tmp_path: Path, scene: str, **override: object) -> Path:
    """The scene's camera.yaml with an absolute source and keys overridden (dotted)."""
    data = yaml.safe_load((SCENES / scene / "camera.yaml").read_text())
    data["source"] = str(SCENES / scene / "video.mp4")
    for dotted, value in override.items():
        section, key = dotted.split("__")
        data[section][key] = value
    p = tmp_path / f"{scene}.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def error_line(r: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.parametrize("scene", ["synthetic_rules", "vtest_road"])
def test_check_reports_the_scenes_phases_at_their_times_and_draws_an_overlay(
    tmp_path: Path, scene: str
) -> None:
    truth = json.loads((SCENES / scene / "ground_truth.json").read_text())
    first_change = truth["signal_schedule"][1]  # green → red, inside the first 12 s
    out = tmp_path / "overlay.png"
    cam = str(SCENES / scene / "camera.yaml")  # the shipped file, source relative to the repo
    r = jaywatch("edge", "check", cam, "--seconds", "12", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["problems"] == [] and rep["frame_size"] == truth["size"]
    assert rep["frames"] >= 100  # 12 s at the camera's 10 fps
    assert rep["detections"] > 0
    known = [p for p in rep["phases"] if p["phase"] != "unknown"]
    assert [p["phase"] for p in known] == [truth["signal_schedule"][0]["phase"], "red"]
    assert known[0]["start_seen"] is False  # the video starts in green
    assert known[1]["start_seen"] is True
    assert known[1]["t"] == pytest.approx(first_change["from_s"], abs=0.15)
    img = cv2.imread(str(out))
    assert img is not None and [img.shape[1], img.shape[0]] == truth["size"]
    # The ROI outline (magenta) is drawn where signal.roi says.
    x, y, w, _h = truth["signal"]["roi"]
    edge = img[y, x : x + w].astype(int)
    assert (np.abs(edge - [255, 0, 255]).sum(axis=1) < 60).mean() > 0.8


def test_check_human_output_lists_the_phase_sequence(tmp_path: Path) -> None:
    r = jaywatch("edge", "check", str(scene_camera(tmp_path, "synthetic_rules")), "--seconds", "9")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "768×576 frames" in lines[0]
    phases = [ln.split() for ln in lines if ln.startswith("  ")]
    assert [p[1] for p in phases] == ["unknown", "green", "red"]
    assert float(phases[2][0]) == pytest.approx(8.0, abs=0.15)


@pytest.mark.parametrize(
    ("override", "expect"),
    [
        ({"signal__roi": [750, 100, 40, 80]}, "signal.roi: [750, 100, 40, 80] reaches x=790"),
        (
            {"crossing__zone": [[900, 10], [1000, 10], [1000, 90]]},
            "crossing.zone: entirely outside the 768×576 frame",
        ),
        (
            {"crossing__zone": [[10, 10], [800, 10], [400, 300]]},
            "crossing.zone: point 1 [800, 10] is outside the 768×576 frame",
        ),
    ],
)
def test_check_refuses_geometry_outside_the_frame_in_one_line(
    tmp_path: Path, override: dict, expect: str
) -> None:
    cam = scene_camera(tmp_path, "vtest_road", **override)
    out = tmp_path / "o.png"
    r = jaywatch("edge", "check", str(cam), "--out", str(out))
    assert r.returncode == 2
    line = error_line(r)
    assert line.startswith(f"jaywatch: error: {cam}: ") and expect in line, line
    assert "768×576" in line
    assert out.is_file()  # the overlay is still drawn: it shows where the zone/ROI went


def test_check_bad_source_and_bad_yaml_are_one_line(tmp_path: Path) -> None:
    cam = scene_camera(tmp_path, "vtest_road")
    r = jaywatch("edge", "check", str(cam), "--source", str(tmp_path / "gone.mp4"))
    assert r.returncode == 2 and "gone.mp4: video file not found" in error_line(r)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 100)
    r = jaywatch("edge", "check", str(cam), "--source", str(junk))
    assert r.returncode == 2 and "junk.mp4" in error_line(r)
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nsignal: {roi: [1, 2, 3]}\ncrossing: {zone: [[0, 0], [1, 1], [2, 0]]}\n")
    r = jaywatch("edge", "check", str(bad))
    assert r.returncode == 2 and "signal.roi" in error_line(r)
    r = jaywatch("edge", "check", str(cam), "--seconds", "0")
    assert r.returncode == 2 and "--seconds" in error_line(r)


def test_check_unreachable_stream_fails_after_the_timeout(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cam = scene_camera(tmp_path, "vtest_road")
    r = jaywatch(
        "edge", "check", str(cam), "--source", f"http://127.0.0.1:{port}/x.mjpg", "--timeout", "3"
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    # The capture's retry warnings are logged; the outcome is one error line, last.
    errors = [ln for ln in r.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1 and "no frame within 3 s" in errors[0], r.stderr


@pytest.mark.parametrize(
    ("override", "expect"),
    [
        ({"signal__roi": [398, 550, 24, 48]}, "signal.roi: [398, 550, 24, 48] reaches x=422"),
        (
            {"crossing__zone": [[-300, -300], [-100, -300], [-100, -100]]},
            "crossing.zone: entirely outside the 768×576 frame",
        ),
    ],
)
def test_process_refuses_geometry_outside_the_frame_without_a_traceback(
    tmp_path: Path, override: dict, expect: str
) -> None:
    cam = scene_camera(tmp_path, "vtest_road", **override)
    video = str(SCENES / "vtest_road" / "video.mp4")
    r = jaywatch("edge", "process", video, "--camera", str(cam), "--json")
    assert r.returncode == 2
    line = error_line(r)
    assert line.startswith(f"jaywatch: error: {cam}: ") and expect in line, line


def test_gateway_worker_reports_the_roi_error_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = load_camera_config(scene_camera(tmp_path, "vtest_road", signal__roi=[760, 10, 20, 40]))
    worker = CameraWorker(cfg, "gw-1", sink=lambda e: None)
    with caplog.at_level(logging.ERROR, logger="edge.gateway"):
        worker.start()
        worker.join(60)
    assert worker.status.finished and not worker.status.up
    assert worker.status.error.startswith("signal.roi: [760, 10, 20, 40] reaches x=780")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None, errors


def test_check_reports_a_moved_view_against_the_calibration_reference(tmp_path: Path) -> None:
    """The camera was bumped after calibration: 90 px left, 25 px down. `check` runs the
    gateway's health checks too and says so (exit 1); the unmoved clip passes (exit 0)."""
    cap = cv2.VideoCapture(str(SCENES / "vtest_road" / "video.mp4"))
    frames = [cap.read()[1] for _ in range(40)]
    cap.release()
    cv2.imwrite(str(tmp_path / "ref.png"), frames[0])
    moved = tmp_path / "moved.avi"
    w = cv2.VideoWriter(str(moved), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (768, 576))
    m = np.float32([[1, 0, -90], [0, 1, 25]])
    for f in frames:
        w.write(cv2.warpAffine(f, m, (768, 576), borderMode=cv2.BORDER_REPLICATE))
    w.release()
    data = yaml.safe_load((SCENES / "vtest_road" / "camera.yaml").read_text())
    data.update(source=str(moved), health={"reference": "ref.png"})
    cam = tmp_path / "cam.yaml"
    cam.write_text(yaml.safe_dump(data))
    r = jaywatch("edge", "check", str(cam), "--seconds", "3", "--json")
    assert r.returncode == 1, r.stderr
    (reason,) = json.loads(r.stdout)["scene"]
    assert reason.startswith("moved: the zone drawn at calibration now lies -90 px, +25 px away")
    video = str(SCENES / "vtest_road" / "video.mp4")
    r = jaywatch("edge", "check", str(cam), "--seconds", "3", "--source", video, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["scene"] == [], r.stdout


@pytest.mark.parametrize("how", ["sub stream", "decoder downscale"])
def test_check_reads_the_detect_stream_and_reports_its_pairing(tmp_path: Path, how: str) -> None:
    """With ``detect_stream`` the check reads the camera as ``edge run`` does: it names the
    detect stream and its frame size, counts the main frames paired with a sub frame (a
    sub file starting 0.5 s late leaves the first 5 unpaired: a warning says so), detects
    on the small image and draws the boxes, mapped back, on the main-size overlay."""
    from tests.edge.test_detect_stream import SUB_H, SUB_W, make_sub

    if how == "sub stream":
        sub = make_sub(tmp_path / "sub.mp4", skip=5)
        stream = {"source": sub.name, "max_skew_s": 0.04}  # relative to the camera YAML
    else:
        stream = {"width": SUB_W}
    data = yaml.safe_load((SCENES / "vtest_road" / "camera.yaml").read_text())
    data["source"] = str(SCENES / "vtest_road" / "video.mp4")
    data["detect_stream"] = stream
    cam = tmp_path / "cam.yaml"
    cam.write_text(yaml.safe_dump(data))
    out = tmp_path / "overlay.png"
    r = jaywatch("edge", "check", str(cam), "--seconds", "4", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    ds = rep["detect_stream"]
    assert rep["frame_size"] == [768, 576] and ds["frame_size"] == [SUB_W, SUB_H]
    assert ds["frames"] == rep["frames"] >= 40
    assert rep["detections"] > 0
    unpaired = [w for w in rep["warnings"] if w.startswith("detect_stream: only")]
    if how == "sub stream":
        assert ds["mode"] == "sub_stream" and ds["source"] == str(tmp_path / "sub.mp4")
        assert ds["frames_paired"] == ds["frames"] - 5
        assert unpaired and f"{ds['frames'] - 5} of {ds['frames']}" in unpaired[0]
    else:
        assert ds["mode"] == "decoder_downscale" and ds["frames_paired"] == ds["frames"]
        assert not unpaired
    img = cv2.imread(str(out))
    assert img is not None and img.shape[:2] == (576, 768)  # drawn on the main frame
    human = jaywatch("edge", "check", str(cam), "--seconds", "1")
    assert human.returncode == 0, human.stderr
    assert human.stdout.splitlines()[1].startswith("detect stream: ")
    assert f"{SUB_W}×{SUB_H} frames" in human.stdout.splitlines()[1]


def test_check_names_a_missing_detect_stream_file(tmp_path: Path) -> None:
    data = yaml.safe_load((SCENES / "vtest_road" / "camera.yaml").read_text())
    data["source"] = str(SCENES / "vtest_road" / "video.mp4")
    data["detect_stream"] = {"source": "nowhere_sub.mp4"}
    cam = tmp_path / "cam.yaml"
    cam.write_text(yaml.safe_dump(data))
    r = jaywatch("edge", "check", str(cam))
    assert r.returncode == 2
    line = error_line(r)
    assert "nowhere_sub.mp4: detect_stream.source: video file not found" in line, line


def test_calibrate_says_the_zone_is_drawn_on_the_main_stream(tmp_path: Path) -> None:
    """``edge calibrate`` shows the main stream (the zone's pixels) and says what the
    detector sees instead, at start and in ``/state`` (which the page prints)."""
    import re
    import urllib.request

    data = yaml.safe_load((SCENES / "vtest_road" / "camera.yaml").read_text())
    data["source"] = str(SCENES / "vtest_road" / "video.mp4")
    data["detect_stream"] = {"width": 384}
    cam = tmp_path / "cam.yaml"
    cam.write_text(yaml.safe_dump(data))
    proc = subprocess.Popen(
        [sys.executable, "-m", "jaywatch_app.cli", "edge", "calibrate", str(cam)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        m = re.search(r"open (http://127\.0\.0\.1:\d+/\?token=(\S+))", proc.stdout.readline())
        assert m
        note = proc.stdout.readline().strip()
        assert note == (
            "zone and ROI are drawn on the main stream; the detector sees a decoder "
            "downscale to 384 px wide, its boxes mapped to these pixels"
        )
        url = m.group(1).replace("/?token=", "/state?token=")
        with urllib.request.urlopen(url, timeout=10) as r:
            state = json.loads(r.read())
        assert state["width"] == 768 and state["stream"] in note
    finally:
        proc.terminate()
        proc.wait(10)
