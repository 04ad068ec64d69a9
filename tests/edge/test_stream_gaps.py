"""A stream that drops and comes back must not carry a red start across the outage.

The reported case: red → 60 s outage → red gave ``red_for`` = 62.2 s, so someone who
stepped out within the grace period after the reconnect was flagged. Reproduced here
time-compressed through the real capture (``LiveSource`` reading MJPEG over HTTP with
OpenCV/FFmpeg) and the real pipeline (SSD detector, tracker, ROI signal reader, rule) on
the synthetic_rules scene, replayed in real time: red begins at 8.0 s, the stream is
down from 9.0 s to 14.5 s, and two people (P, R) step onto the carriageway at 16.0 s.
Their red start (8.0 s) fell before the outage, so it was not seen on this connection:
no violation. The same stream without the outage flags both (red for 8 s).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from edge.capture import LiveSource
from edge.config import load_camera_config
from edge.evaluation import score_scene
from edge.pipeline import build_pipeline
from tests.replay_camera import ReplayCamera

pytestmark = pytest.mark.slow

SCENE = Path(__file__).resolve().parents[2] / "sample_media" / "scenes" / "synthetic_rules"
END_S = 18.5  # P and R enter at 16.0 s; their violations finish about 1 s later


def _run(outage: tuple[float, float] | None) -> tuple[list[dict], object]:
    cam = ReplayCamera(SCENE / "video.mp4", fps=10.0, end_s=END_S)
    if outage:
        cam.outage(*outage)
    cfg = load_camera_config(SCENE / "camera.yaml")
    pipeline = build_pipeline(cfg)
    src = LiveSource(cam.url, cfg.fps, max_backoff_s=0.5, read_timeout_s=2.0)
    reported: list[dict] = []
    walls: dict[int, float] = {}  # frame index -> wall time it arrived

    def consume() -> None:
        for frame in src:
            walls[frame.index] = time.time()
            for v in pipeline.process(frame):
                reported.append(
                    {
                        "t": cam.video_t(walls[v.entry.frame]),
                        "foot": list(v.entry.foot),
                        "red_for_s": v.entry.red_for_s,
                    }
                )
        for v in pipeline.flush():
            reported.append({"t": cam.video_t(walls[v.entry.frame]), "foot": list(v.entry.foot)})

    th = threading.Thread(target=consume, daemon=True)
    th.start()
    cam.start()
    try:
        deadline = time.monotonic() + END_S + 30
        while not cam.finished() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # the last frames through the pipeline
    finally:
        src.stop()
        th.join(timeout=10)
        cam.stop()
    assert not th.is_alive(), "the pipeline did not finish"
    return reported, pipeline


@pytest.mark.timeout(120)
def test_no_red_start_is_inherited_across_an_outage() -> None:
    # Without the outage P and R (entering at 16.0 s, red since 8.0 s) are flagged (a
    # real-time replay on a busy machine may lose one of the pair to tracking) ...
    for _attempt in range(2):  # an overloaded machine can starve one real-time replay
        continuous, _ = _run(None)
        score = score_scene(SCENE / "ground_truth.json", continuous)
        found = {"V", "P", "R", "W"} - set(score.missed)
        if found & {"P", "R"}:
            break
    assert found & {"P", "R"}, (score.missed, continuous)

    # ... with it they are not: the red they enter on began before the reconnect.
    dropped, pipeline = _run((9.0, 14.5))
    after = [r for r in dropped if r["t"] > 14.0]
    assert after == [], f"flagged after the reconnect with a red start from before it: {after}"
    assert pipeline.stats.gap_resets >= 1  # type: ignore[attr-defined]


@pytest.mark.timeout(60)
def test_a_stalled_stream_is_reopened_after_read_timeout_and_resets() -> None:
    """The stream stays connected but sends nothing for 4 s: with ``read_timeout_s`` = 1
    the read gives up, the capture reconnects (a new segment) and the pipeline resets."""
    cam = ReplayCamera(SCENE / "video.mp4", fps=10.0, end_s=8.0)
    cam.stall(2.0, 6.0)
    src = LiveSource(cam.url, 10.0, max_backoff_s=0.5, read_timeout_s=1.0)
    frames = []
    th = threading.Thread(target=lambda: frames.extend(src), daemon=True)
    th.start()
    cam.start()
    try:
        while not cam.finished():
            time.sleep(0.1)
    finally:
        src.stop()
        th.join(timeout=10)
        cam.stop()
    assert cam.connections >= 2, "the stalled connection was never given up"
    segments = sorted({f.segment for f in frames})
    assert len(segments) >= 2, segments
    # The reconnect came about read_timeout_s into the stall, not when data resumed.
    assert 2.0 < cam.connected_at[1] < 5.0, cam.connected_at
    # ... and the pipeline resets on the new segment.
    pipeline = build_pipeline(load_camera_config(SCENE / "camera.yaml"))
    for f in frames:
        pipeline.process(f)
    assert pipeline.stats.gap_resets >= 1
