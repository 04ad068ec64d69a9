"""A live camera that comes back at another resolution, through the real OpenCV capture
(``LiveSource`` reading MJPEG over HTTP) and the gateway's camera worker.

* Back at 640×480 (the zone still partly inside): the worker goes on with the same
  pipeline; motion gate and detector region are made again for the new size and the
  tracks reset. It used to crash in the motion gate (numpy broadcast error), be
  restarted with back-off and report ``ValueError: operands could not be broadcast``.
* Back at 320×240 (the signal ROI no longer fits): health says which key does not fit
  the new frame, the camera is down, nothing crashes; when the stream returns at its
  calibrated size the camera recovers by itself.

(A size change *within* one connection never reaches the pipeline on this path: OpenCV's
FFmpeg back-end scales every frame to the size the stream opened with. Checked here.)
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.capture import LiveSource, VideoFileSource
from edge.config import load_camera_config
from edge.gateway import CameraWorker
from tests.mjpeg_server import MjpegServer

SCENE = Path(__file__).resolve().parents[2] / "sample_media" / "scenes" / "vtest_road"


def scene_frames(n: int, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    out = []
    for f in VideoFileSource(SCENE / "video.mp4"):
        out.append(f.image if size is None else cv2.resize(f.image, size))
        if len(out) == n:
            return out
    return out


def worker_for(url: str) -> CameraWorker:
    cfg = load_camera_config(SCENE / "camera.yaml")
    cfg = cfg.model_copy(
        update={
            "source": url,
            "stream": cfg.stream.model_copy(update={"reconnect_max_s": 0.5, "read_timeout_s": 3}),
        }
    )
    return CameraWorker(cfg, "gw-1", sink=lambda e: None, restart_backoff_s=0.2)


def wait_for(cond, timeout: float = 90.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_one_connection_is_scaled_to_the_size_it_opened_with() -> None:
    srv = MjpegServer([scene_frames(4) + scene_frames(4, (640, 480))], fps=20)
    src = LiveSource(srv.url, max_backoff_s=0.5, read_timeout_s=3)
    shapes = []
    try:
        for f in src:
            shapes.append(f.image.shape)
            if len(shapes) == 8:
                break
    finally:
        src.stop()
        srv.close()
    assert shapes == [(576, 768, 3)] * 8


def test_a_camera_back_at_another_resolution_goes_on_without_a_restart(
    caplog: pytest.LogCaptureFixture,
) -> None:
    srv = MjpegServer([scene_frames(20), scene_frames(40, (640, 480))], fps=20)
    worker = worker_for(srv.url)
    sizes: list[tuple[int, int]] = []
    with caplog.at_level(logging.WARNING):
        worker.start()
        try:
            assert wait_for(lambda: worker._pipeline is not None and worker.status.up)
            first = worker._pipeline

            def saw_small() -> bool:
                f = worker.latest_frame()
                if f is not None:
                    sizes.append(f.image.shape[:2])
                return (480, 640) in sizes and worker._pipeline.stats.detector_runs > 25

            assert wait_for(saw_small), (sizes, worker.status)
            assert worker._pipeline is first  # not restarted
            assert worker.status.error == ""
        finally:
            worker.stop()
            srv.close()
    text = caplog.text
    assert "frame size changed from 768x576 to 640x480" in text
    assert "worker failed" not in text and "broadcast" not in text


def test_a_camera_back_too_small_for_its_roi_reports_it_and_recovers() -> None:
    srv = MjpegServer([scene_frames(10), scene_frames(20, (320, 240)), scene_frames(60)], fps=20)
    worker = worker_for(srv.url)
    worker.start()
    try:
        assert wait_for(lambda: "signal.roi" in worker.health().error), worker.status
        h = worker.health()
        assert not h.up and "320×240" in h.error, h
        # The stream comes back at its calibrated size: the camera recovers by itself.
        assert wait_for(lambda: worker.status.up and worker.health().error == ""), worker.status
        assert worker.health().up
    finally:
        worker.stop()
        srv.close()


def test_a_violation_seen_before_the_stream_came_back_too_small_is_not_lost() -> None:
    """synthetic_rules over the loopback camera at 2x speed up to video 13 s: V entered on
    red at 12.0 s, confirmed, its clip window still open when the stream drops and comes
    back at 40×30, where the ROI no longer fits. The failed pipeline's confirmed
    violation still goes to the sink (it used to be discarded with the pipeline)."""
    rules = SCENE.parent / "synthetic_rules"
    frames = []
    for f in VideoFileSource(rules / "video.mp4"):
        frames.append(f.image)
        if len(frames) == 131:
            break
    srv = MjpegServer([frames, [cv2.resize(frames[-1], (40, 30))] * 40], fps=20)
    cfg = load_camera_config(rules / "camera.yaml")
    cfg = cfg.model_copy(
        update={
            "source": srv.url,
            "stream": cfg.stream.model_copy(update={"reconnect_max_s": 0.5, "read_timeout_s": 3}),
        }
    )
    events = []
    worker = CameraWorker(cfg, "gw-1", sink=events.append, restart_backoff_s=0.2)
    worker.start()
    try:
        assert wait_for(lambda: "signal.roi" in worker.status.error), worker.status
        assert wait_for(lambda: len(events) >= 1, 30), worker.status
    finally:
        worker.stop()
        srv.close()
    assert events[0].camera_id == "synthetic-rules"
