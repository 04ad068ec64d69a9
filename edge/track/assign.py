"""Gated one-to-one matching of tracks to detections on an IoU matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

# Cost of a pair below the IoU gate: large enough that the solver first maximises the
# number of pairs above the gate, then their total IoU; finite because scipy rejects
# infeasible (all-inf) rows.
_GATED_COST = 1.0e6


@dataclass(frozen=True, slots=True)
class Matching:
    """Result of one association pass, as indices into the rows/columns given.

    Attributes:
        pairs: ``(K, 2)`` int64 ``[row, col]`` pairs, each with IoU >= the gate.
        unmatched_rows: row indices left without a partner.
        unmatched_cols: column indices left without a partner.
    """

    pairs: np.ndarray
    unmatched_rows: np.ndarray
    unmatched_cols: np.ndarray


def match_iou(iou: np.ndarray, min_iou: float) -> Matching:
    """Maximum-IoU one-to-one matching, keeping only pairs with ``iou >= min_iou``.

    Args:
        iou: ``(R, C)`` IoU matrix (rows: tracks, columns: detections).
        min_iou: gate; pairs below it are never returned.
    """
    rows, cols = iou.shape
    if rows == 0 or cols == 0:
        return Matching(np.zeros((0, 2), np.int64), np.arange(rows), np.arange(cols))
    ok = iou >= min_iou
    cost = np.where(ok, 1.0 - iou, _GATED_COST)
    r, c = linear_sum_assignment(cost)
    keep = ok[r, c]
    r, c = r[keep], c[keep]
    row_free = np.ones(rows, bool)
    row_free[r] = False
    col_free = np.ones(cols, bool)
    col_free[c] = False
    return Matching(
        np.stack([r, c], axis=1).astype(np.int64),
        np.flatnonzero(row_free),
        np.flatnonzero(col_free),
    )
