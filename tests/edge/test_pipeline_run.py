"""``CameraPipeline.run``: the detector a frame ahead of the tracker changes nothing.

Real parts: the shipped SSD, tracker, ROI signal reader and rule on the vtest_road
sample scene (real pedestrians), decoded by the OpenCV file source.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.capture import Frame, VideoFileSource
from edge.config import load_camera_config
from edge.frame_geometry import FrameGeometryError
from edge.pipeline import build_pipeline

SCENE = Path(__file__).resolve().parents[2] / "sample_media" / "scenes" / "vtest_road"
FRAMES = 160  # the scene's first violations finish within these frames


def _violations(detect_ahead: bool, frames: int = FRAMES) -> tuple[list[tuple], int]:
    cfg = load_camera_config(SCENE / "camera.yaml")
    pipe = build_pipeline(cfg, None)
    src = VideoFileSource(SCENE / "video.mp4", cfg.fps)
    window = (f for _, f in zip(range(frames), src, strict=False))
    found = [v for done in pipe.run(window, detect_ahead=detect_ahead) for v in done]
    found += pipe.flush()
    return [
        (v.entry.frame, v.entry.track_id, round(v.entry.red_for_s, 3), v.entry.foot) for v in found
    ], pipe.stats.detector_runs


def test_detect_ahead_finds_the_same_violations_as_frame_by_frame() -> None:
    ahead, runs_ahead = _violations(detect_ahead=True)
    serial, runs_serial = _violations(detect_ahead=False)
    assert serial, "the window must contain violations for the comparison to mean anything"
    assert ahead == serial
    assert runs_ahead == runs_serial


def _frames_then_wrong_size() -> Iterator[Frame]:
    cfg_frames = VideoFileSource(SCENE / "video.mp4", 10.0)
    for f in cfg_frames:
        yield f
        if f.index == 4:
            break
    yield Frame(5, 0.5, np.zeros((120, 160, 3), np.uint8))  # zone and ROI do not fit


def test_an_error_of_the_detect_stage_comes_after_the_frames_before_it() -> None:
    cfg = load_camera_config(SCENE / "camera.yaml")
    pipe = build_pipeline(cfg, None)
    judged = 0
    with pytest.raises(FrameGeometryError, match=r"signal\.roi"):
        for _ in pipe.run(_frames_then_wrong_size()):
            judged += 1
    assert judged == 5 and pipe.stats.frames == 5
    assert not [t for t in threading.enumerate() if t.name == f"detect {cfg.id}"]


def test_leaving_the_loop_early_stops_the_detect_thread() -> None:
    cfg = load_camera_config(SCENE / "camera.yaml")
    pipe = build_pipeline(cfg, None)
    for n, _ in enumerate(pipe.run(VideoFileSource(SCENE / "video.mp4", cfg.fps)), 1):
        if n == 3:
            break
    names = [t.name for t in threading.enumerate()]
    assert f"detect {cfg.id}" not in names and "decode video.mp4" not in names
    assert pipe.stats.frames == 3
