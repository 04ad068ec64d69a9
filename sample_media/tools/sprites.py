"""Cut real pedestrians out of real frames and paste them into a background.

A sprite is one person over a run of consecutive source frames (a walking cycle): for
each frame the person's pixels are separated from a people-free background (the median
of the video) by colour difference, refined with GrabCut, and kept with a soft alpha
mask. The foot point is the bottom-centre of the mask's bounding box, the same point the
edge takes from a detector box.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SpriteFrame:
    """One cut-out: BGR pixels and alpha (0..1) of the mask's bounding box."""

    bgr: np.ndarray
    alpha: np.ndarray

    @property
    def height(self) -> int:
        return self.alpha.shape[0]


@dataclass(frozen=True)
class Sprite:
    """A walking person: cut-outs of consecutive frames, looped while it moves."""

    name: str
    frames: tuple[SpriteFrame, ...]
    source_dx: float  # horizontal walking direction in the source (sign matters)

    @property
    def ref_height(self) -> float:
        return float(np.median([f.height for f in self.frames]))


def median_background(frames: list[np.ndarray]) -> np.ndarray:
    """Per-pixel median: people who keep moving vanish, the static scene remains."""
    return np.median(np.stack(frames), axis=0).astype(np.uint8)


def cut(
    frame: np.ndarray, background: np.ndarray, box: np.ndarray, diff_thr: int = 28
) -> SpriteFrame:
    """Cut the person inside ``box`` (x0, y0, x1, y1) out of ``frame``.

    The colour difference to the background seeds GrabCut (probable foreground where it
    differs, sure background outside the box), and the largest connected component of the
    result is kept so bits of neighbours or noise do not come along.
    """
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = (round(float(v)) for v in box[:4])
    pad = 6
    x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    roi = frame[y0:y1, x0:x1]
    diff = cv2.absdiff(roi, background[y0:y1, x0:x1]).max(axis=2)
    seed = (diff > diff_thr).astype(np.uint8)
    seed = cv2.morphologyEx(seed, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    if seed.mean() < 0.1 or seed.mean() > 0.9:
        raise ValueError(f"box {box[:4]} does not separate a person from the background")
    gc = np.full(seed.shape, cv2.GC_PR_BGD, np.uint8)
    gc[seed > 0] = cv2.GC_PR_FGD
    gc[cv2.erode(seed, np.ones((5, 5), np.uint8)) > 0] = cv2.GC_FGD
    gc[:, :2] = gc[:, -2:] = gc[:2, :] = cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(roi, gc, None, bgd, fgd, 3, cv2.GC_INIT_WITH_MASK)
    mask = np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    if n <= 1:
        raise ValueError(f"no person found in box {box[:4]}")
    keep = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    mask = (labels == keep).astype(np.uint8)
    ys, xs = np.nonzero(mask)
    bx0, bx1, by0, by1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0.8)[by0:by1, bx0:bx1]
    return SpriteFrame(roi[by0:by1, bx0:bx1].copy(), np.clip(alpha, 0, 1))


def place(
    canvas: np.ndarray, sf: SpriteFrame, foot_xy: tuple[float, float], height: float, flip: bool
) -> tuple[float, float, float, float]:
    """Paste ``sf`` scaled to ``height`` with its bottom-centre at ``foot_xy`` (in place).

    Returns the pasted box (x0, y0, x1, y1) in canvas pixels, clipped to the canvas.
    """
    s = height / sf.height
    w_new, h_new = max(1, round(sf.bgr.shape[1] * s)), max(1, round(height))
    bgr = cv2.resize(sf.bgr, (w_new, h_new), interpolation=cv2.INTER_LINEAR)
    alpha = cv2.resize(sf.alpha, (w_new, h_new), interpolation=cv2.INTER_LINEAR)
    if flip:
        bgr, alpha = bgr[:, ::-1], alpha[:, ::-1]
    x0 = round(foot_xy[0] - w_new / 2)
    y0 = round(foot_xy[1] - h_new)
    H, W = canvas.shape[:2]
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x0 + w_new), min(H, y0 + h_new)
    if cx0 >= cx1 or cy0 >= cy1:
        return (0.0, 0.0, 0.0, 0.0)
    a = alpha[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0, None]
    src = bgr[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0].astype(np.float32)
    dst = canvas[cy0:cy1, cx0:cx1].astype(np.float32)
    canvas[cy0:cy1, cx0:cx1] = np.clip(a * src + (1 - a) * dst + 0.5, 0, 255).astype(np.uint8)
    return (float(cx0), float(cy0), float(cx1), float(cy1))
