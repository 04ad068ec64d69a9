"""Pairwise intersection-over-union of axis-aligned boxes, vectorised.

Kept apart from the tracker because association, tests and evaluation all need the
same definition, including what happens with degenerate boxes.
"""

from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` with every box in ``b``.

    Boxes are ``[x1, y1, x2, y2]``. A box with ``x2 < x1`` or ``y2 < y1`` counts as
    empty (zero area), and the IoU of two zero-area boxes is defined as 0 rather than
    NaN, so a degenerate detection can never win an assignment by accident.

    Args:
        a: ``(N, 4)`` boxes.
        b: ``(M, 4)`` boxes.

    Returns:
        ``(N, M)`` float64 array in ``[0, 1]``; ``(N, 0)`` or ``(0, M)`` when a side
        is empty.

    >>> a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], np.float32)
    >>> b = np.array([[5, 0, 15, 10], [0, 0, 10, 10]], np.float32)
    >>> box_iou(a, b).round(3).tolist()
    [[0.333, 1.0], [0.0, 0.0]]
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    area_a = _areas(a)
    area_b = _areas(b)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(iw, 0.0) * np.maximum(ih, 0.0)
    union = area_a[:, None] + area_b[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def buffered_iou(a: np.ndarray, b: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """IoU after growing box ``a[i]`` and every box of ``b`` by row ``i``'s margin.

    Plain IoU needs the prediction and the detection to overlap, which fails for a
    young track (velocity still unknown) or after a long time step, because the
    person moved further than a box width. Growing both boxes of a pair by the track's
    positional uncertainty (C-BIoU, Yang et al. 2023, with the buffer taken from the
    Kalman covariance instead of a fixed ratio) lets an uncertain track reach further,
    while a confident track with a small margin keeps nearly plain IoU. Growing both
    boxes, not only the prediction, keeps a perfect overlap at IoU 1.

    Args:
        a: ``(N, 4)`` boxes (track predictions).
        b: ``(M, 4)`` boxes (detections).
        margin: ``(N, 2)`` ``[mx, my]`` added on each side, per row of ``a`` (negative
            counts as 0; a NaN margin makes that row's IoU 0).

    Returns:
        ``(N, M)`` IoU in ``[0, 1]``; zero margins give exactly :func:`box_iou`.

    >>> a = np.array([[0, 0, 10, 10]], np.float32)
    >>> b = np.array([[12, 0, 22, 10]], np.float32)
    >>> buffered_iou(a, b, np.array([[0.0, 0.0]])).tolist()  # 2 px apart: no overlap
    [[0.0]]
    >>> buffered_iou(a, b, np.array([[5.0, 0.0]])).tolist()  # 20 px wide, 8 px shared
    [[0.25]]
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    m = np.maximum(np.asarray(margin, np.float64).reshape(-1, 2), 0.0)
    grow = np.concatenate([-m, m], axis=1)  # (N, 4)
    ga = a + grow
    gb = b[None, :, :] + grow[:, None, :]  # (N, M, 4)
    iw = np.minimum(ga[:, None, 2], gb[..., 2]) - np.maximum(ga[:, None, 0], gb[..., 0])
    ih = np.minimum(ga[:, None, 3], gb[..., 3]) - np.maximum(ga[:, None, 1], gb[..., 1])
    inter = np.maximum(iw, 0.0) * np.maximum(ih, 0.0)
    area_a = _areas(ga)[:, None]
    area_b = _areas(gb.reshape(-1, 4)).reshape(len(a), len(b))
    union = area_a + area_b - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def _areas(boxes: np.ndarray) -> np.ndarray:
    """Areas with inverted boxes clamped to zero (never negative)."""
    return np.maximum(boxes[:, 2] - boxes[:, 0], 0.0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0.0)
