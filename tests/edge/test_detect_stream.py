"""Main and detect streams (edge/av_capture.py, edge/detectors/detect_stream.py), on the
real vtest_road clip with the real detector.

* A sub stream is paired with the main stream by timestamp: a sub file that starts 0.5 s
  later leaves the first main frames unpaired and pairs every later one with the sub
  frame of the same moment.
* Boxes found on the small image land on the people in main-stream pixels.
* ``jaywatch edge process`` with a sub stream or a decoder downscale finds the scene's
  violations (precision and recall ≥ 0.9) and stores stills at the main stream's size.
* A hardware decoder that is not there falls back to software with one log line.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import yaml

from edge.av_capture import AvSource, camera_source, open_container
from edge.capture import VideoFileSource
from edge.config import ConfigError, DetectorConfig, load_camera_config
from edge.detectors import create_detector
from edge.detectors.detect_stream import DetectStreamDetector
from edge.detectors.nms import box_iou_one_to_many
from edge.detectors.region import wrap_for_region
from edge.evaluation import score_scene

REPO = Path(__file__).resolve().parents[2]
SCENE = REPO / "sample_media" / "scenes" / "vtest_road"
VIDEO = SCENE / "video.mp4"
SUB_W, SUB_H = 384, 288


def make_sub(path: Path, skip: int = 0) -> Path:
    """vtest_road at 384x288 as H.264, frame k at pts k (1/10 s): the first ``skip`` frames
    left out, so the sub file's first frame is at ``skip / 10`` s."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = SUB_W, SUB_H, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "20"}
        s.time_base = Fraction(1, 10)
        for f in VideoFileSource(VIDEO):
            if f.index < skip:
                continue
            small = cv2.resize(f.image, (SUB_W, SUB_H), interpolation=cv2.INTER_AREA)
            vf = av.VideoFrame.from_ndarray(small, format="bgr24")
            vf.pts = f.index
            vf.time_base = Fraction(1, 10)
            for pkt in s.encode(vf):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


@pytest.fixture(scope="module")
def sub_late(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sub(tmp_path_factory.mktemp("sub") / "sub_late.mp4", skip=5)


def test_sub_stream_frames_are_paired_by_timestamp(sub_late: Path) -> None:
    src = AvSource(VIDEO, detect_source=sub_late, max_skew_s=0.04, analysis_fps=10)
    frames = [f for _, f in zip(range(60), src, strict=False)]
    assert [f.detect is None for f in frames[:5]] == [True] * 5  # sub not started yet
    paired = frames[5:]
    assert all(f.detect is not None and f.detect.shape == (SUB_H, SUB_W, 3) for f in paired)
    assert all(f.image.shape == (576, 768, 3) for f in frames)  # evidence: full size
    # Each pair shows the same moment: the sub image is nearer to its own main frame
    # (downscaled) than to the main frame 0.3 s away.
    for k in range(3, len(paired)):
        f, other = paired[k], paired[k - 3]
        own = cv2.resize(f.image, (SUB_W, SUB_H), interpolation=cv2.INTER_AREA)
        far = cv2.resize(other.image, (SUB_W, SUB_H), interpolation=cv2.INTER_AREA)
        d_own = np.abs(own.astype(int) - f.detect).mean()  # type: ignore[operator]
        d_far = np.abs(far.astype(int) - f.detect).mean()  # type: ignore[operator]
        assert d_own < d_far, f"frame {f.index}"
    assert src.pairer.paired == len(paired) and src.pairer.unpaired == 5


def test_decoder_downscale_gives_every_frame_its_small_image() -> None:
    src = AvSource(VIDEO, detect_width=320, analysis_fps=5)
    frames = [f for _, f in zip(range(12), src, strict=False)]
    assert all(f.detect is not None and f.detect.shape == (240, 320, 3) for f in frames)
    assert [f.index for f in frames[:3]] == [0, 2, 4]  # 10 fps source at 5 fps
    assert frames[1].t == pytest.approx(0.2)


def test_boxes_found_on_the_small_image_land_on_the_people_in_main_pixels() -> None:
    cfg = DetectorConfig()
    zone = [tuple(p) for p in load_camera_config(SCENE / "camera.yaml").crossing.zone]
    model = create_detector(cfg, threads=1)
    det = DetectStreamDetector(model, cfg, zone, wrap_for_region)
    checked = 0
    for f in VideoFileSource(VIDEO, 2):
        main = det.detect(f.image)
        small = cv2.resize(f.image, (SUB_W, SUB_H), interpolation=cv2.INTER_AREA)
        mapped = det.detect(f.image, small)
        for box in mapped.xyxy:
            assert box[2] <= 768 + 1e-3 and box[3] <= 576 + 1e-3  # main pixels
            if len(main):
                assert box_iou_one_to_many(box, main.xyxy).max() >= 0.5, f"frame {f.index}"
                checked += 1
        if checked >= 20:
            break
    assert checked >= 20


def _process(tmp_path: Path, detect_stream: dict) -> tuple[list[dict], Path]:
    cam = yaml.safe_load((SCENE / "camera.yaml").read_text())
    cam["detect_stream"] = detect_stream
    cam["evidence"] = {"clip": False}
    camera = tmp_path / "camera.yaml"
    camera.write_text(yaml.safe_dump(cam))
    out = tmp_path / "out"
    r = subprocess.run(
        [
            *(sys.executable, "-m", "jaywatch_app.cli", "edge", "process", str(VIDEO)),
            *("--camera", str(camera), "--out", str(out), "--json"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")], out


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sub stream", "decoder downscale"])
def test_edge_process_on_a_detect_stream_finds_the_violations_with_full_size_stills(
    tmp_path: Path, how: str
) -> None:
    if how == "sub stream":
        stream = {"source": str(make_sub(tmp_path / "sub.mp4")), "max_skew_s": 0.04}
    else:
        stream = {"width": SUB_W}
    found, out = _process(tmp_path, stream)
    reported = [{"t": v["t"], "foot": v["foot"]} for v in found]
    score = score_scene(SCENE / "ground_truth.json", reported)
    assert score.precision >= 0.9 and score.recall >= 0.9, score
    stills = sorted(out.rglob("*.jpg"))
    assert stills
    for p in stills:
        img = cv2.imread(str(p))
        assert img is not None and img.shape[1] == 768, p  # the main stream's width
        assert img.shape[0] >= 576  # the scene (+ the data bar below it)
    for v in found:  # boxes in main pixels
        x1, y1, x2, y2 = v["bbox"]
        assert 0 <= x1 < x2 <= 768 and 0 <= y1 < y2 <= 576


def test_missing_hardware_decoder_falls_back_to_software(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    c, used = open_container(VIDEO, "videotoolbox", "camera t main stream")  # macOS only
    c.close()
    assert used == "software"
    line = next(r.getMessage() for r in caplog.records if "videotoolbox" in r.getMessage())
    assert "unavailable" in line and "software" in line and "camera t" in line


@pytest.mark.skipif(Path("/dev/nvidia0").exists(), reason="this machine has a CUDA device")
def test_a_hardware_device_that_cannot_open_falls_back_and_frames_still_come(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cam = yaml.safe_load((SCENE / "camera.yaml").read_text())
    cam["stream"] = {"hwaccel": "cuda"}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cam))
    cfg = load_camera_config(tmp_path / "c.yaml")
    caplog.set_level(logging.INFO)
    src = camera_source(cfg, VIDEO)
    assert isinstance(src, AvSource)
    frames = [f for _, f in zip(range(3), src, strict=False)]
    assert len(frames) == 3 and frames[0].image.shape == (576, 768, 3)
    assert src.decoder_used == "software"
    assert any("hwaccel cuda unavailable" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("detect_stream", "message"),
    [
        ({}, "detect_stream: expected `source` .* or `width`"),
        ({"width": 100}, "detect_stream.width: Input should be greater than or equal to 160"),
        ({"source": "a.mp4", "width": 320}, "detect_stream: `width` is for the decoder"),
        ({"width": 320, "max_skew_s": 5}, "detect_stream.max_skew_s: Input should be less"),
    ],
)
def test_bad_detect_stream_config_names_the_key(
    tmp_path: Path, detect_stream: dict, message: str
) -> None:
    cam = yaml.safe_load((SCENE / "camera.yaml").read_text())
    cam["detect_stream"] = detect_stream
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cam))
    with pytest.raises(ConfigError, match="c.yaml: " + message):
        load_camera_config(tmp_path / "c.yaml")
