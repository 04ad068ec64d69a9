"""Property test: arbitrary detection streams never break the tracker's contract."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.config import TrackerConfig
from edge.detectors.base import Detections
from edge.track.bytetrack import ByteTracker

coord = st.one_of(
    st.floats(-50, 700, width=32),  # mostly on-screen, clustered so boxes overlap
    st.sampled_from([0.0, 100.0, float("nan"), float("inf"), -float("inf"), 3e9]),
)
score = st.one_of(st.floats(0, 1, width=32), st.just(float("nan")))
box = st.tuples(coord, coord, st.floats(-5, 200, width=32), st.floats(-5, 300, width=32))
frame = st.tuples(
    st.one_of(st.floats(0, 2.5), st.just(0.0)),  # dt, incl. repeated timestamps
    st.lists(st.tuples(box, score), max_size=12),
)
config = st.builds(
    TrackerConfig,
    high_threshold=st.floats(0.3, 1.0),
    low_threshold=st.floats(0.01, 0.3),
    match_iou=st.floats(0.01, 1.0),
    max_lost_s=st.floats(0.0, 3.0),
    min_hits=st.integers(1, 4),
)


def _detections(items: list) -> Detections:
    xyxy = np.array([[x, y, x + w, y + h] for (x, y, w, h), _ in items], np.float32)
    return Detections(xyxy.reshape(-1, 4), np.array([s for _, s in items], np.float32))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=config, frames=st.lists(frame, min_size=1, max_size=25))
def test_random_streams_keep_the_contract(cfg: TrackerConfig, frames: list) -> None:
    tr = ByteTracker(cfg)
    t = 0.0
    removed: set[int] = set()
    issued: set[int] = set()
    for dt, items in frames:
        t += dt
        det = _detections(items)
        out = tr.update(det, t)
        ids = out.track_ids.tolist()
        assert len(ids) == len(set(ids)), "duplicate id in one frame"
        assert all(i > 0 for i in ids)
        assert not removed & set(ids), "a removed id came back"
        assert np.isfinite(out.xyxy).all() and np.isfinite(out.scores).all()
        assert np.isfinite(tr.predicted_xyxy()).all()
        # Each output is one of this frame's detections, each used at most once.
        same = (out.xyxy[:, None, :] == det.xyxy[None, :, :]).all(axis=2)
        assert same.any(axis=1).all()
        # (identical detections may each carry a track: compare as multisets)
        out_rows = [tuple(r) for r in out.xyxy.tolist()]
        det_rows = [tuple(r) for r in det.xyxy.tolist()]
        assert all(out_rows.count(r) <= det_rows.count(r) for r in set(out_rows))
        assert (out.scores >= cfg.low_threshold).all()
        gone = out.removed_ids.tolist()
        assert len(gone) == len(set(gone)) and not removed & set(gone)
        assert set(gone) <= issued and not set(gone) & set(ids)
        removed |= set(gone)
        new = set(ids) - issued
        assert all(i > max(issued, default=0) for i in new), "ids are issued in order"
        issued |= new
