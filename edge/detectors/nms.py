"""Greedy non-maximum suppression in numpy, for detectors whose graph has no NMS (YOLO).

Raw YOLO heads predict the same person from several neighbouring grid cells and
anchors; NMS keeps the best box of each cluster. Each round is one vectorised IoU of the
current best box against all remaining ones, so the loop runs once per *kept* box (a
handful per frame), not once per candidate.

>>> import numpy as np
>>> boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
>>> scores = np.array([0.9, 0.8, 0.7], np.float32)
>>> nms(boxes, scores, iou_threshold=0.5).tolist()
[0, 2]
>>> batched_nms(boxes, scores, np.array([0, 1, 0]), iou_threshold=0.5).tolist()
[0, 1, 2]
"""

from __future__ import annotations

import numpy as np


def box_iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``[x1, y1, x2, y2]`` box with each row of ``boxes`` (``(N, 4)``)."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    # Degenerate (zero-area) boxes have union 0: IoU 0, never suppressing anything.
    return np.divide(inter, union, out=np.zeros_like(inter, dtype=np.float64), where=union > 0)


def nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int | None = None
) -> np.ndarray:
    """Indices of the boxes kept, best score first (at most ``max_keep``).

    A box is dropped when its IoU with an already kept, higher-scored box is strictly
    greater than ``iou_threshold``. Equal scores keep the earlier index first (stable sort),
    so results do not depend on numpy's sort implementation.

    Args:
        boxes: ``(N, 4)`` ``[x1, y1, x2, y2]``.
        scores: ``(N,)``.
        iou_threshold: in ``[0, 1]``.
        max_keep: stop once this many are kept (each round costs one pass over the rest,
            so thousands of non-overlapping candidates would otherwise take seconds).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"boxes ({len(boxes)}) and scores ({len(scores)}) differ in length")
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and (max_keep is None or len(keep) < max_keep):
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        order = rest[box_iou_one_to_many(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    iou_threshold: float,
    max_keep: int | None = None,
) -> np.ndarray:
    """NMS within each class only: boxes of different classes never suppress each other.

    Shifts each class's boxes by a class-specific offset larger than any coordinate, so
    one :func:`nms` call handles all classes (boxes of different classes cannot overlap).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return np.zeros((0,), np.int64)
    span = float(boxes.max() - min(boxes.min(), 0.0)) + 1.0
    offsets = np.asarray(class_ids, dtype=np.float64).reshape(-1, 1) * span
    return nms(boxes + offsets, scores, iou_threshold, max_keep)
