"""Small, pure geometry helpers for the crossing rule (vectorised numpy)."""

from __future__ import annotations

import numpy as np


def foot_points(xyxy: np.ndarray) -> np.ndarray:
    """Bottom-centre of each box: where a pedestrian stands on the ground.

    The box centre would put a tall person's "position" a metre above the kerb; the feet
    are what crosses onto the carriageway.

    >>> foot_points(np.array([[10, 20, 30, 60]], np.float32)).tolist()
    [[20.0, 60.0]]
    """
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    return np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]], axis=1)


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd ray casting for many points against one polygon.

    Points exactly on an edge may fall either way; at pixel scale that is immaterial
    and the rule's debounce absorbs it.

    >>> square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], np.float32)
    >>> points_in_polygon(np.array([[5, 5], [15, 5], [-1, -1]], np.float32), square).tolist()
    [True, False, False]
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return np.zeros((0,), bool)
    x, y = pts[:, 0:1], pts[:, 1:2]  # (N, 1) against edges (1, M)
    x1, y1 = poly[:, 0][None, :], poly[:, 1][None, :]
    x2, y2 = np.roll(poly[:, 0], -1)[None, :], np.roll(poly[:, 1], -1)[None, :]
    straddles = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    crossings = straddles & (x < x_cross)
    return (crossings.sum(axis=1) % 2) == 1
