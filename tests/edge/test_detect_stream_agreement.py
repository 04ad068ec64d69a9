"""The detect stream finds what the main stream finds (issue 18): ``jaywatch edge process``
on one 720p scene, three ways, must report the same violations.

The scene is vtest_road (real pedestrians, real SSD model) encoded the way an IP camera
sends it: a 1280x720 H.264 main stream and a 640x360 H.264 sub stream, both made here
from the same source frames with the same presentation times (as a camera encodes both
from one sensor). The three runs:

* main only: the detector sees the 720p frame (OpenCV decode, as before detect streams);
* decoder downscale: ``detect_stream.width: 640`` (one PyAV decode, the small image made
  from it);
* sub stream: ``detect_stream.source`` = the 640x360 file, paired by timestamp.

Each must find the scene's annotated violations (precision and recall 1.0, feet mapped
back to the annotation's 768x576 pixels), the three must agree one to one (entry within
1 s, foot within 40 px at 768 wide, box heights within 25 %: a box left in detect
pixels would be half as tall), every analysed frame of the sub-stream run must have been
paired (else that frame was silently detected on the main image and the run would prove
nothing), and stills stay at the main stream's 1280 px.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import yaml

from edge.evaluation import score_scene
from tests.edge.scene_video import encode_scene

REPO = Path(__file__).resolve().parents[2]
SCENE = REPO / "sample_media" / "scenes" / "vtest_road"
SRC_W, SRC_H = 768, 576
MAIN_W, MAIN_H = 1280, 720
SUB_W, SUB_H = 640, 360
SX, SY = MAIN_W / SRC_W, MAIN_H / SRC_H

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("camera")
    return encode_scene(SCENE / "video.mp4", d / "main.mp4", MAIN_W, MAIN_H), encode_scene(
        SCENE / "video.mp4", d / "sub.mp4", SUB_W, SUB_H
    )


def _camera_720p(detect_stream: dict | None) -> dict:
    """The scene's camera YAML with zone and signal ROI in 720p main-stream pixels."""
    cam = yaml.safe_load((SCENE / "camera.yaml").read_text())
    cam["crossing"]["zone"] = [
        [round(x * SX, 1), round(y * SY, 1)] for x, y in cam["crossing"]["zone"]
    ]
    x, y, w, h = cam["signal"]["roi"]
    cam["signal"]["roi"] = [round(x * SX), round(y * SY), round(w * SX), round(h * SY)]
    cam["evidence"] = {"clip": False}
    if detect_stream is not None:
        cam["detect_stream"] = detect_stream
    return cam


def _process(tmp_path: Path, video: Path, name: str, detect_stream: dict | None):
    camera = tmp_path / f"{name}.yaml"
    camera.write_text(yaml.safe_dump(_camera_720p(detect_stream)))
    out = tmp_path / name
    r = subprocess.run(
        [
            *(sys.executable, "-m", "jaywatch_app.cli", "-v", "edge", "process", str(video)),
            *("--camera", str(camera), "--out", str(out), "--json"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    found = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    return found, out, r.stderr


def _foot_768(v: dict) -> tuple[float, float]:
    return v["foot"][0] / SX, v["foot"][1] / SY


def test_main_only_decoder_downscale_and_sub_stream_find_the_same_violations(
    tmp_path: Path, streams: tuple[Path, Path]
) -> None:
    main, sub = streams
    runs = {
        "main_only": _process(tmp_path, main, "main_only", None),
        "decoder_downscale": _process(tmp_path, main, "downscale", {"width": SUB_W}),
        "sub_stream": _process(tmp_path, main, "sub", {"source": str(sub), "max_skew_s": 0.04}),
    }
    for how, (found, out, _) in runs.items():
        reported = [{"t": v["t"], "foot": list(_foot_768(v))} for v in found]
        score = score_scene(SCENE / "ground_truth.json", reported)
        assert score.precision == 1.0 and score.recall == 1.0, (how, score)
        for v in found:
            x1, y1, x2, y2 = v["bbox"]
            assert 0 <= x1 < x2 <= MAIN_W and 0 <= y1 < y2 <= MAIN_H, (how, v["bbox"])
        stills = sorted(out.rglob("*.jpg"))
        assert stills, how
        for p in stills:
            img = cv2.imread(str(p))
            assert img is not None and img.shape[1] == MAIN_W, (how, p)

    base = runs["main_only"][0]
    for how in ("decoder_downscale", "sub_stream"):
        other = list(runs[how][0])
        assert len(other) == len(base), (how, [v["t"] for v in base], [v["t"] for v in other])
        for v in base:
            fx, fy = _foot_768(v)

            def gap(w: dict, fx: float = fx, fy: float = fy) -> float:
                ox, oy = _foot_768(w)
                return math.hypot(ox - fx, oy - fy)

            near = [w for w in other if abs(w["t"] - v["t"]) <= 1.0 and gap(w) <= 40]
            assert near, (how, "no counterpart for", v["t"], v["foot"])
            w = min(near, key=lambda w: abs(w["t"] - v["t"]))
            other.remove(w)
            h_main, h_other = v["bbox"][3] - v["bbox"][1], w["bbox"][3] - w["bbox"][1]
            assert abs(h_other / h_main - 1) <= 0.25, (how, v["bbox"], w["bbox"])

    # Every analysed frame of the sub-stream run had its sub frame (none fell back to
    # the main image), as the source's closing log line counts them.
    m = re.search(r"detect stream: (\d+) of (\d+) frames paired", runs["sub_stream"][2])
    assert m is not None, runs["sub_stream"][2][-2000:]
    paired, total = int(m.group(1)), int(m.group(2))
    assert total == 400 and paired == total
