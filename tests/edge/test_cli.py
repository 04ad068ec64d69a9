"""`jaywatch edge process`: bad input gives one clear line naming the file and key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

GOOD_CAMERA = """\
id: cam-01
signal:
  roi: [10, 10, 20, 40]
crossing:
  zone: [[0, 60], [160, 60], [160, 120], [0, 120]]
"""


def jaywatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jaywatch_app.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    for _ in range(10):
        w.write(np.full((120, 160, 3), 80, np.uint8))
    w.release()
    return path


def camera(tmp_path: Path, text: str = GOOD_CAMERA) -> Path:
    p = tmp_path / "cam.yaml"
    p.write_text(text)
    return p


def only_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_good_input_runs_and_prints_nothing_for_an_empty_scene(tmp_path: Path, video: Path) -> None:
    r = jaywatch("edge", "process", str(video), "--camera", str(camera(tmp_path)), "--json")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""


def test_missing_video(tmp_path: Path) -> None:
    r = jaywatch("edge", "process", str(tmp_path / "gone.mp4"), "--camera", str(camera(tmp_path)))
    assert r.returncode == 2
    assert "gone.mp4: video file not found" in only_line(r.stderr)


def test_unreadable_video(tmp_path: Path) -> None:
    bad = tmp_path / "junk.mp4"
    bad.write_bytes(b"\x00junk" * 1000)
    r = jaywatch("edge", "process", str(bad), "--camera", str(camera(tmp_path)), "--json")
    assert r.returncode != 0
    assert "junk.mp4" in only_line(r.stderr)
    assert "Traceback" not in r.stderr


def test_missing_camera_file(tmp_path: Path, video: Path) -> None:
    r = jaywatch("edge", "process", str(video), "--camera", str(tmp_path / "nocam.yaml"))
    assert r.returncode == 2
    assert "nocam.yaml: file not found" in only_line(r.stderr)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD_CAMERA.replace("[10, 10, 20, 40]", "[10, 10, -5, 40]"), "signal.roi"),
        (
            GOOD_CAMERA.replace("[[0, 60], [160, 60], [160, 120], [0, 120]]", "[[0, 60]]"),
            "crossing.zone",
        ),
        (GOOD_CAMERA.replace("id: cam-01", "id: 'bad id!'"), "id"),
        (GOOD_CAMERA + "grace: 2\n", "grace"),
        (GOOD_CAMERA + "crossing2: [\n", "not valid YAML"),
        ("- just\n- a list\n", "mapping"),
    ],
)
def test_invalid_camera_names_file_and_key(
    tmp_path: Path, video: Path, text: str, expected: str
) -> None:
    r = jaywatch("edge", "process", str(video), "--camera", str(camera(tmp_path, text)))
    assert r.returncode == 2
    line = only_line(r.stderr)
    assert "cam.yaml" in line and expected in line


def test_missing_gallery(tmp_path: Path, video: Path) -> None:
    r = jaywatch(
        "edge",
        "process",
        str(video),
        "--camera",
        str(camera(tmp_path)),
        "--gallery",
        str(tmp_path / "g.jwg"),
    )
    assert r.returncode == 2
    assert "g.jwg" in only_line(r.stderr)


def test_a_gallery_for_a_camera_without_faces(tmp_path: Path, video: Path) -> None:
    # build_pipeline makes the face stage from the camera config (edge/pipeline.py
    # make_face_stage): a gallery with faces disabled is a mistake, said in one line.
    gallery = tmp_path / "g.jwg"
    gallery.write_bytes(b"not read")
    cam = camera(tmp_path, GOOD_CAMERA + "faces:\n  enabled: false\n")
    r = jaywatch("edge", "process", str(video), "--camera", str(cam), "--gallery", str(gallery))
    assert r.returncode == 2
    assert only_line(r.stderr) == (
        "jaywatch: error: --gallery given but faces.enabled is false for camera cam-01"
    )
