from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edge.rule.geometry import foot_points, points_in_polygon


def test_foot_point_is_bottom_centre() -> None:
    assert foot_points(np.array([[0, 0, 10, 20], [5, 5, 7, 9]])).tolist() == [[5, 20], [6, 9]]


def test_empty_inputs() -> None:
    assert foot_points(np.zeros((0, 4))).shape == (0, 2)
    tri = np.array([[0, 0], [1, 0], [0, 1]])
    assert points_in_polygon(np.zeros((0, 2)), tri).shape == (0,)


def test_concave_polygon() -> None:
    # A "U": the notch (5, 8) is outside.
    u = np.array([[0, 0], [10, 0], [10, 10], [7, 10], [7, 3], [3, 3], [3, 10], [0, 10]])
    pts = np.array([[1, 5], [5, 8], [9, 9], [5, 1], [11, 5]])
    assert points_in_polygon(pts, u).tolist() == [True, False, True, True, False]


@given(
    st.lists(st.tuples(st.floats(-50, 150), st.floats(-50, 150)), min_size=1, max_size=50),
)
def test_agrees_with_opencv(points: list[tuple[float, float]]) -> None:
    import cv2

    poly = np.array([[10, 10], [90, 20], [80, 90], [40, 60], [15, 85]], np.float32)
    pts = np.array(points, np.float32)
    ours = points_in_polygon(pts, poly)
    for p, inside in zip(pts, ours, strict=True):
        d = cv2.pointPolygonTest(poly.reshape(-1, 1, 2), (float(p[0]), float(p[1])), True)
        if abs(d) > 1e-3:  # points on an edge may go either way
            assert inside == (d > 0)
