"""IoU, buffered IoU and gated assignment against brute-force references."""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pytest

import edge.track.assign
import edge.track.bytetrack
import edge.track.iou
from edge.track.assign import match_gated
from edge.track.iou import box_iou, buffered_iou


def _iou_one(a: np.ndarray, b: np.ndarray) -> float:
    """Scalar reference with inverted boxes counted as empty."""
    aw, ah = max(a[2] - a[0], 0.0), max(a[3] - a[1], 0.0)
    bw, bh = max(b[2] - b[0], 0.0), max(b[3] - b[1], 0.0)
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(-5, 40, (n, 2))  # some inverted, some tiny
    wh[rng.random(n) < 0.2] = 0.0  # zero area
    return np.concatenate([xy, xy + wh], axis=1)


@pytest.mark.parametrize("module", [edge.track.iou, edge.track.assign, edge.track.bytetrack])
def test_docstring_examples(module) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_box_iou_matches_scalar_reference() -> None:
    rng = np.random.default_rng(0)
    a, b = _random_boxes(rng, 40), _random_boxes(rng, 30)
    got = box_iou(a, b)
    want = np.array([[_iou_one(x, y) for y in b] for x in a])
    assert got.shape == (40, 30)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert np.isfinite(got).all() and (got >= 0).all() and (got <= 1).all()


def test_box_iou_edges() -> None:
    box = np.array([[10, 10, 20, 30]], np.float32)
    point = np.array([[15, 15, 15, 15]], np.float32)
    assert box_iou(box, box)[0, 0] == pytest.approx(1.0)
    assert box_iou(point, point)[0, 0] == 0.0  # zero area: 0, not NaN
    assert box_iou(box, point)[0, 0] == 0.0
    assert box_iou(np.zeros((0, 4)), box).shape == (0, 1)
    assert box_iou(box, np.zeros((0, 4))).shape == (1, 0)
    assert box_iou(np.array([[0, 0, np.nan, 1]]), box)[0, 0] == 0.0


def test_buffered_iou_zero_margin_is_plain_iou_and_overlap_stays_one() -> None:
    rng = np.random.default_rng(1)
    a, b = _random_boxes(rng, 20), _random_boxes(rng, 25)
    np.testing.assert_allclose(buffered_iou(a, b, np.zeros((20, 2))), box_iou(a, b))
    good = a[(a[:, 2] > a[:, 0]) & (a[:, 3] > a[:, 1])]
    same = buffered_iou(good, good, rng.uniform(0, 30, (len(good), 2)))
    np.testing.assert_allclose(np.diag(same), 1.0)


def test_buffered_iou_grows_with_margin_for_boxes_apart() -> None:
    a = np.array([[0.0, 0.0, 10.0, 30.0]])
    b = np.array([[14.0, 0.0, 24.0, 30.0]])  # 4 px gap
    values = [buffered_iou(a, b, np.array([[m, 0.0]]))[0, 0] for m in (0, 1, 2, 3, 5, 10)]
    assert values[:3] == [0.0, 0.0, 0.0]  # margins up to half the gap: still apart
    assert all(x < y for x, y in itertools.pairwise(values[2:]))


def _brute_force(cost: np.ndarray, allowed: np.ndarray) -> tuple[int, float]:
    """Best (most pairs, then least cost) over all partial matchings."""
    rows, cols = cost.shape
    best = (0, 0.0)
    for k in range(min(rows, cols), 0, -1):
        for rs in itertools.combinations(range(rows), k):
            for cs in itertools.permutations(range(cols), k):
                if all(allowed[r, c] for r, c in zip(rs, cs, strict=True)):
                    total = float(sum(cost[r, c] for r, c in zip(rs, cs, strict=True)))
                    if best[0] < k or total < best[1]:
                        best = (k, total)
        if best[0] == k:
            return best
    return best


@pytest.mark.parametrize("seed", range(30))
def test_match_gated_is_optimal(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(1, 5, 2)
    cost = rng.normal(20, 10, (rows, cols))
    allowed = rng.random((rows, cols)) < 0.5
    m = match_gated(cost, allowed)
    assert all(allowed[r, c] for r, c in m.pairs)
    assert len(set(m.pairs[:, 0])) == len(m.pairs) and len(set(m.pairs[:, 1])) == len(m.pairs)
    k, total = _brute_force(cost, allowed)
    assert len(m.pairs) == k
    assert float(cost[m.pairs[:, 0], m.pairs[:, 1]].sum()) == pytest.approx(total)
    assert sorted([*m.pairs[:, 0], *m.unmatched_rows]) == list(range(rows))
    assert sorted([*m.pairs[:, 1], *m.unmatched_cols]) == list(range(cols))


def test_match_gated_empty_sides() -> None:
    m = match_gated(np.zeros((0, 3)), np.zeros((0, 3), bool))
    assert m.pairs.shape == (0, 2) and m.unmatched_cols.tolist() == [0, 1, 2]
    m = match_gated(np.ones((2, 2)), np.zeros((2, 2), bool))
    assert m.pairs.shape == (0, 2) and m.unmatched_rows.tolist() == [0, 1]
