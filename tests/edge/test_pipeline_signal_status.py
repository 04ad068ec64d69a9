"""The pipeline's signal snapshot (``CameraPipeline.signal_status``) and its reset on a
gap in frame times, on the synthetic_rules scene (green until 8.0 s, then red)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.capture import Frame, VideoFileSource
from edge.config import load_camera_config
from edge.pipeline import build_pipeline
from edge.signal import SignalState

SCENE = Path(__file__).resolve().parents[2] / "sample_media" / "scenes" / "synthetic_rules"
WALL0 = 1_800_000_000.0


def _frames(until_s: float) -> list[Frame]:
    out = []
    for f in VideoFileSource(SCENE / "video.mp4", 10.0, wall0=WALL0):
        if f.t > until_s:
            break
        out.append(f)
    return out


def test_status_reports_phase_since_and_wall_time_of_the_change() -> None:
    pipeline = build_pipeline(load_camera_config(SCENE / "camera.yaml"))
    before = pipeline.signal_status()
    assert (before.source, before.phase, before.at_t) == ("roi", SignalState.UNKNOWN, None)
    for f in _frames(10.0):
        pipeline.process(f)
    st = pipeline.signal_status()
    assert st.phase is SignalState.RED and st.at_t == pytest.approx(10.0)
    assert st.since_t == pytest.approx(8.0, abs=0.15)
    assert st.last_change == datetime.fromtimestamp(WALL0 + st.since_t, UTC)
    assert st.unknown_for_s == 0.0 and st.gap_resets == 0 and not st.stale


def test_a_gap_in_frame_times_resets_so_the_red_start_is_unseen() -> None:
    cfg = load_camera_config(SCENE / "camera.yaml")
    assert cfg.stream.gap_reset_s == 2.0
    frames = _frames(14.0)
    pipeline = build_pipeline(cfg)
    # Frames from 9.0 s to 11.9 s never arrive (a stall of 3 s on one connection).
    for f in frames:
        if not 9.0 <= f.t < 12.0:
            pipeline.process(f)
    st = pipeline.signal_status()
    assert st.gap_resets == 1
    assert st.phase is SignalState.RED and st.since_t is None and st.last_change is None

    # A gap shorter than the threshold changes nothing.
    pipeline = build_pipeline(cfg)
    for f in frames:
        if not 9.0 <= f.t < 10.5:
            pipeline.process(f)
    st = pipeline.signal_status()
    assert st.gap_resets == 0 and st.since_t == pytest.approx(8.0, abs=0.15)


def test_gap_threshold_must_exceed_the_frame_interval(tmp_path: Path) -> None:
    from edge.config import ConfigError

    text = (SCENE / "camera.yaml").read_text() + "stream:\n  gap_reset_s: 0.1\n"
    (tmp_path / "cam.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"stream\.gap_reset_s: expected more than 1\.5 frame"):
        load_camera_config(tmp_path / "cam.yaml")
