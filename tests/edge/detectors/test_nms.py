"""Greedy NMS: edge cases by hand, and agreement with OpenCV's NMSBoxes on random boxes."""

from __future__ import annotations

import doctest

import cv2
import numpy as np
import pytest

import edge.detectors.letterbox
import edge.detectors.nms
from edge.detectors.nms import batched_nms, box_iou_one_to_many, nms


def test_empty_input_gives_empty_int_indices() -> None:
    keep = nms(np.zeros((0, 4)), np.zeros((0,)), 0.5)
    assert keep.shape == (0,) and keep.dtype == np.int64
    assert batched_nms(np.zeros((0, 4)), np.zeros((0,)), np.zeros((0,)), 0.5).shape == (0,)


def test_single_box_is_kept() -> None:
    assert nms(np.array([[1, 2, 3, 4]]), np.array([0.3]), 0.5).tolist() == [0]


def test_all_overlapping_keeps_only_the_best() -> None:
    boxes = np.array([[10, 10, 50, 90]] * 5, np.float32) + np.arange(5)[:, None]
    scores = np.array([0.2, 0.9, 0.4, 0.8, 0.1])
    assert nms(boxes, scores, 0.5).tolist() == [1]


def test_disjoint_boxes_all_kept_best_first() -> None:
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]], np.float32)
    assert nms(boxes, np.array([0.5, 0.9, 0.7]), 0.1).tolist() == [1, 2, 0]


def test_identical_scores_keep_the_earlier_index() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [100, 0, 110, 10], [1, 0, 11, 10]])
    scores = np.full(4, 0.7)
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]


def test_iou_equal_to_threshold_is_kept_above_is_suppressed() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5]], np.float32)  # IoU exactly 0.5
    scores = np.array([0.9, 0.8])
    assert box_iou_one_to_many(boxes[0], boxes[1:]).tolist() == [0.5]
    assert nms(boxes, scores, 0.5).tolist() == [0, 1]
    assert nms(boxes, scores, 0.49).tolist() == [0]


def test_zero_area_boxes_suppress_nothing() -> None:
    boxes = np.array([[5, 5, 5, 5], [0, 0, 10, 10], [5, 5, 5, 5]], np.float32)
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), 0.0).tolist() == [0, 1, 2]


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match=r"boxes \(2\) and scores \(1\)"):
        nms(np.zeros((2, 4)), np.zeros(1), 0.5)


def test_batched_keeps_overlapping_boxes_of_different_classes() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7])
    assert batched_nms(boxes, scores, np.array([0, 1, 0]), 0.5).tolist() == [0, 1]
    assert batched_nms(boxes, scores, np.array([0, 0, 0]), 0.5).tolist() == [0]


def test_batched_handles_negative_coordinates() -> None:
    boxes = np.array([[-50, -50, -40, -40], [-50, -50, -40, -40]], np.float32)
    assert batched_nms(boxes, np.array([0.9, 0.8]), np.array([0, 1]), 0.5).tolist() == [0, 1]


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("iou", [0.3, 0.45, 0.7])
def test_agrees_with_opencv_nmsboxes(seed: int, iou: float) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    xy = rng.uniform(0, 500, (n, 2))
    wh = rng.uniform(5, 120, (n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    scores = rng.permutation(n) / n + 0.5 / n  # distinct, so the order is unambiguous
    ours = nms(boxes, scores, iou)
    theirs = cv2.dnn.NMSBoxes(
        [tuple(map(float, b)) for b in np.concatenate([xy, wh], axis=1)],
        scores.astype(float).tolist(),
        score_threshold=0.0,
        nms_threshold=iou,
    )
    assert sorted(ours.tolist()) == sorted(np.asarray(theirs).reshape(-1).tolist())
    assert np.all(np.diff(scores[ours]) < 0)  # best first


def test_module_docstring_examples() -> None:
    for module in (edge.detectors.nms, edge.detectors.letterbox):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0
