"""Motion gate: skip the detector on frames where nothing in the scene moves.

Frigate's idea: a cheap frame difference on a small grey copy decides whether the
expensive detector runs. The signal head's ROI is masked out (its lamps switching is
not motion), and the gate stays open ``hold_s`` after the last motion so tracks end
with real observations instead of a frozen last box.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edge.config import MotionConfig

WORK_WIDTH = 160  # pixels; enough to see a walking person at SD, cheap to diff
# When the smallest expected person is known (a tiled 1080p/4K camera), the grey copy is
# made large enough for them to be this tall in it: at 160 px wide a 55-px person of a
# 1080p frame is under 5 px tall and their walking changes almost no pixel.
MIN_PERSON_WORK_PX = 12.0
# ... and motion of a fifth of such a person's area (not of the frame) counts.
PERSON_AREA_SHARE = 0.2


def work_scale(frame_w: int, min_person_px: float | None = None) -> float:
    """Scale of the grey copy the gate diffs (both axes): 160 px wide, or larger for small
    people.

    >>> round(work_scale(1920), 3), round(work_scale(1920, min_person_px=55), 3)
    (0.083, 0.218)
    """
    scale = WORK_WIDTH / frame_w
    if min_person_px:
        scale = max(scale, min(1.0, MIN_PERSON_WORK_PX / min_person_px))
    return scale


class MotionGate:
    """Decide per frame whether anything moved.

    >>> gate = MotionGate(MotionConfig(hold_s=0.0))
    >>> still = np.zeros((120, 160, 3), np.uint8)
    >>> gate.update(still, 0.0)   # first frame: always analysed
    True
    >>> gate.update(still, 0.1)
    False
    >>> moved = still.copy(); moved[40:80, 60:90] = 255
    >>> gate.update(moved, 0.2)
    True
    """

    def __init__(
        self,
        cfg: MotionConfig,
        exclude_rois: Sequence[tuple[int, int, int, int]] = (),
        min_person_px: float | None = None,
        main_size: tuple[int, int] | None = None,
    ) -> None:
        self.cfg = cfg
        # ROIs and person height are in pixels of a (width, height) main image; given,
        # frames may be a smaller image of it (a detect stream's): the grey copy and mask
        # are then computed from the main size, so they are the main image's, exactly.
        self.main_size = main_size
        self.min_person_px = min_person_px
        self._min_fraction = cfg.min_area_fraction
        self.exclude_rois = list(exclude_rois)
        self._prev: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._last_motion_t = -np.inf
        self.frames = 0
        self.skipped = 0

    def _small_grey(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        w, h = self.main_size or (w, h)
        scale = work_scale(w, self.min_person_px)
        # One scale for width, height and the ROI mask below (a tiled camera's copy is wider
        # than 160 px). Linear, not area, sampling: several times cheaper; the blur below
        # absorbs aliasing.
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        grey = cv2.GaussianBlur(grey, (5, 5), 0)
        if self._mask is None:
            if self.min_person_px:
                person = 0.4 * (self.min_person_px * scale) ** 2  # ~0.4 h wide
                share = PERSON_AREA_SHARE * person / grey.size
                self._min_fraction = min(self.cfg.min_area_fraction, share)
            self._mask = np.ones_like(grey, dtype=bool)
            for x, y, rw, rh in self.exclude_rois:
                x0, y0 = int(x * scale), int(y * scale)
                x1, y1 = int(np.ceil((x + rw) * scale)) + 1, int(np.ceil((y + rh) * scale)) + 1
                self._mask[max(0, y0 - 1) : y1, max(0, x0 - 1) : x1] = False
        return grey

    def update(self, frame: np.ndarray, t: float) -> bool:
        """True when the detector should run on this frame."""
        self.frames += 1
        if not self.cfg.enabled:
            return True
        grey = self._small_grey(frame)
        prev, self._prev = self._prev, grey
        if prev is None or prev.shape != grey.shape:
            self._last_motion_t = t
            return True
        changed = (cv2.absdiff(grey, prev) > self.cfg.pixel_threshold) & self._mask
        if changed.mean() >= self._min_fraction:
            self._last_motion_t = t
            return True
        if t - self._last_motion_t <= self.cfg.hold_s:
            return True
        self.skipped += 1
        return False

    @property
    def skipped_share(self) -> float:
        return self.skipped / self.frames if self.frames else 0.0
