"""Gated one-to-one matching of tracks to detections."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True, slots=True)
class Matching:
    """Result of one association pass, as indices into the rows/columns given.

    Attributes:
        pairs: ``(K, 2)`` int64 ``[row, col]`` pairs, each allowed by the gate.
        unmatched_rows: row indices left without a partner.
        unmatched_cols: column indices left without a partner.
    """

    pairs: np.ndarray
    unmatched_rows: np.ndarray
    unmatched_cols: np.ndarray


def match_gated(cost: np.ndarray, allowed: np.ndarray) -> Matching:
    """Minimum-cost one-to-one matching that uses only ``allowed`` pairs.

    Among all matchings with the most allowed pairs, the one with the least total cost
    is returned: disallowed pairs get a cost larger than any sum of allowed costs, so
    the solver never trades a pair away to save cost (scipy rejects infinite entries
    when a row has no finite option, hence a finite stand-in).

    Args:
        cost: ``(R, C)`` finite costs (rows: tracks, columns: detections).
        allowed: ``(R, C)`` bool gate.

    >>> cost = np.array([[1.0, 0.0], [0.0, 5.0]])
    >>> m = match_gated(cost, allowed=np.array([[True, True], [True, False]]))
    >>> m.pairs.tolist(), m.unmatched_rows.tolist(), m.unmatched_cols.tolist()
    ([[0, 1], [1, 0]], [], [])
    """
    rows, cols = cost.shape
    if rows == 0 or cols == 0 or not allowed.any():
        return Matching(np.zeros((0, 2), np.int64), np.arange(rows), np.arange(cols))
    ok_cost = cost[allowed]
    shifted = np.where(allowed, cost - ok_cost.min(), 0.0)
    blocked = (float(shifted.max()) + 1.0) * (min(rows, cols) + 1)
    r, c = linear_sum_assignment(np.where(allowed, shifted, blocked))
    keep = allowed[r, c]
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
