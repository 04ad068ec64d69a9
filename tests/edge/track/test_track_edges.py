"""ByteTracker contract and edge cases: shapes, time, bad input, configuration."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import TrackerConfig
from edge.detectors.base import Detections
from edge.track import Tracker, create_tracker
from edge.track.base import Tracks
from edge.track.bytetrack import ByteTracker

CFG = TrackerConfig()


def _det(boxes: list[list[float]], scores: list[float]) -> Detections:
    return Detections(
        np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32).reshape(-1)
    )


def _assert_shapes(out: Tracks) -> None:
    n = len(out.track_ids)
    assert out.xyxy.shape == (n, 4) and out.xyxy.dtype == np.float32
    assert out.track_ids.dtype == np.int64 and out.scores.dtype == np.float32
    assert out.scores.shape == (n,) and out.removed_ids.dtype == np.int64


def test_create_tracker_gives_a_tracker() -> None:
    tr = create_tracker(CFG)
    assert isinstance(tr, ByteTracker)
    out = tr.update(Detections.empty(), 0.0)
    _assert_shapes(out)
    assert len(out) == 0 and len(out.removed_ids) == 0
    _: Tracker = tr  # satisfies the protocol statically too


def test_contradictory_thresholds_are_rejected_with_the_key() -> None:
    with pytest.raises(ValueError, match=r"tracker\.low_threshold"):
        create_tracker(TrackerConfig(high_threshold=0.3, low_threshold=0.5))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_time_is_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        ByteTracker(CFG).update(Detections.empty(), bad)


def test_time_going_backwards_is_rejected() -> None:
    tr = ByteTracker(CFG)
    tr.update(Detections.empty(), 5.0)
    tr.update(Detections.empty(), 5.0)  # same time is fine (dt = 0)
    with pytest.raises(ValueError, match="backwards"):
        tr.update(Detections.empty(), 4.9)


def test_outputs_are_the_detection_boxes_and_scores_sorted_by_id() -> None:
    tr = ByteTracker(CFG)
    a, b = [100, 100, 160, 260], [400, 120, 470, 300]
    tr.update(_det([a, b], [0.9, 0.8]), 0.0)
    moved_a, moved_b = [104, 101, 164, 262], [396, 118, 466, 299]
    out = tr.update(_det([moved_b, moved_a], [0.7, 0.95]), 0.1)
    _assert_shapes(out)
    assert out.track_ids.tolist() == [1, 2]
    np.testing.assert_array_equal(out.xyxy, np.array([moved_a, moved_b], np.float32))
    np.testing.assert_array_equal(out.scores, np.float32([0.95, 0.7]))


def test_min_hits_one_confirms_at_once_and_min_hits_three_waits() -> None:
    box = _det([[100, 100, 160, 260]], [0.9])
    assert ByteTracker(TrackerConfig(min_hits=1)).update(box, 0.0).track_ids.tolist() == [1]
    tr = ByteTracker(TrackerConfig(min_hits=3))
    assert [len(tr.update(box, t)) for t in (0.0, 0.1, 0.2, 0.3)] == [0, 0, 1, 1]


def test_bad_detections_are_ignored_not_propagated() -> None:
    tr = ByteTracker(TrackerConfig(min_hits=1))
    boxes = [
        [np.nan, 0, 10, 10],
        [0, 0, np.inf, 10],
        [1e9, 0, 1e9 + 10, 10],
        [0, 0, 10, 10],
        [50, 50, 80, 120],
    ]
    out = tr.update(_det(boxes, [0.9, 0.9, 0.9, np.nan, 0.9]), 0.0)
    assert out.xyxy.tolist() == [[50, 50, 80, 120]]
    assert np.isfinite(tr.predicted_xyxy()).all()


def test_zero_area_detections_are_ignored() -> None:
    tr = ByteTracker(TrackerConfig(min_hits=1))
    degenerate = [[50, 50, 50, 50], [200, 100, 260, 100], [30, 30, 20, 90]]
    for k in range(5):
        out = tr.update(_det([*degenerate, [300, 50, 340, 150]], [0.9] * 4), 0.1 * k)
        assert out.track_ids.tolist() == [1]
        assert out.xyxy.tolist() == [[300, 50, 340, 150]]
    assert len(tr) == 1


def test_max_lost_zero_removes_at_the_first_miss() -> None:
    tr = ByteTracker(TrackerConfig(max_lost_s=0.0))
    box = _det([[100, 100, 160, 260]], [0.9])
    tr.update(box, 0.0)
    assert tr.update(box, 0.1).track_ids.tolist() == [1]
    assert tr.update(Detections.empty(), 0.2).removed_ids.tolist() == [1]
    assert len(tr) == 0


def test_removed_ids_are_never_reused() -> None:
    tr = ByteTracker(CFG)
    box = _det([[100, 100, 160, 260]], [0.9])
    seen: set[int] = set()
    t = 0.0
    for _ in range(4):  # appear, get confirmed, vanish past max_lost_s, repeat
        for _ in range(3):
            seen.update(tr.update(box, t).track_ids.tolist())
            t += 0.1
        t += CFG.max_lost_s + 0.1
        assert tr.update(Detections.empty(), t).removed_ids.size == 1
    assert seen == {1, 2, 3, 4}


def test_gap_without_updates_then_same_place_keeps_the_id() -> None:
    """No update at all for longer than max_lost_s is not evidence of absence."""
    tr = ByteTracker(CFG)
    box = _det([[100, 100, 160, 260]], [0.9])
    for t in (0.0, 0.1, 0.2):
        tr.update(box, t)
    out = tr.update(box, 0.2 + 3 * CFG.max_lost_s)
    assert out.track_ids.tolist() == [1] and out.removed_ids.size == 0


def test_tentative_tracks_die_silently() -> None:
    tr = ByteTracker(CFG)
    tr.update(_det([[100, 100, 160, 260]], [0.9]), 0.0)
    assert len(tr) == 1
    out = tr.update(Detections.empty(), 0.1)
    assert len(tr) == 0 and out.removed_ids.size == 0  # never reported, never removed
