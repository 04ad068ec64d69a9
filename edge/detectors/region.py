"""Run a detector on the part of the frame where the rule applies.

The shipped SSD squeezes the whole frame into 300×300, so pedestrians at a kerb far
from the camera shrink to a few pixels and people walking side by side merge into one
box. Only the carriageway and the kerb around it matter to the crossing rule, so the
detector looks at that region (like the regions of NVRs such as Frigate) and people
there are seen at up to native resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from edge.detectors.base import Detections, Detector


def _grow(lo: float, hi: float, size: float, limit: int) -> tuple[float, float]:
    """Grow ``[lo, hi]`` around its centre to ``size``, shifted to stay in ``[0, limit]``."""
    size = min(size, limit)
    c = (lo + hi) / 2
    lo, hi = c - size / 2, c + size / 2
    if lo < 0:
        lo, hi = 0.0, size
    if hi > limit:
        lo, hi = limit - size, float(limit)
    return lo, hi


def auto_region(
    zone: Sequence[tuple[float, float]],
    frame_w: int,
    frame_h: int,
    margin: float = 0.1,
    max_aspect: float = 4 / 3,
) -> tuple[int, int, int, int]:
    """The zone's bounding box grown by ``margin`` of its larger side on every side and
    extended up to the top of the frame (a person standing at the far kerb rises above
    the zone by however much the perspective makes them tall; their face must stay in
    the box for the face stage), then widened or heightened to an aspect of at most
    ``max_aspect`` (the detector resizes its input to a square: a long thin strip would
    squash people out of shape), clipped to the frame; as ``(x1, y1, x2, y2)``.

    People must be tracked *before* they step in, hence the margin around the zone.

    >>> auto_region([(100, 100), (300, 100), (300, 200), (100, 200)], 640, 480)
    (80, 0, 320, 220)
    >>> auto_region([(0, 100), (640, 100), (640, 150), (0, 150)], 640, 480)  # a thin strip
    (0, 0, 640, 480)
    """
    pts = np.asarray(zone, np.float64)
    x1, y1 = pts.min(axis=0)
    x2, y2 = pts.max(axis=0)
    m = margin * max(x2 - x1, y2 - y1)
    x1, x2 = max(0.0, x1 - m), min(float(frame_w), x2 + m)
    y1, y2 = 0.0, min(float(frame_h), y2 + m)
    w, h = x2 - x1, y2 - y1
    if w > max_aspect * h:
        y1, y2 = _grow(y1, y2, w / max_aspect, frame_h)
    elif h > max_aspect * w:
        x1, x2 = _grow(x1, x2, h / max_aspect, frame_w)
    return int(np.floor(x1)), int(np.floor(y1)), int(np.ceil(x2)), int(np.ceil(y2))


class RegionDetector:
    """Wraps any detector: detect inside ``region`` and report boxes in frame pixels.

    ``region`` is ``(x1, y1, x2, y2)`` or a callable computing it from the frame size at
    the first frame (the zone is known before the frame size is).
    """

    def __init__(
        self,
        inner: Detector,
        region: tuple[int, int, int, int] | Callable[[int, int], tuple[int, int, int, int]],
    ) -> None:
        self.inner = inner
        self._region = region
        self.region = None if callable(region) else region

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        h, w = frame_bgr.shape[:2]
        if self.region is None:
            self.region = self._region(w, h)  # type: ignore[operator]
        x1, y1, x2, y2 = self.region
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        if x2 - x1 < 8 or y2 - y1 < 8:
            return Detections.empty()
        dets = self.inner.detect(np.ascontiguousarray(frame_bgr[y1:y2, x1:x2]))
        if len(dets) == 0:
            return dets
        xyxy = dets.xyxy + np.array([x1, y1, x1, y1], np.float32)
        return Detections(xyxy.astype(np.float32), dets.scores, dets.class_ids)
