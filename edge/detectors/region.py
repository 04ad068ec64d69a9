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


def auto_region(
    zone: Sequence[tuple[float, float]], frame_w: int, frame_h: int, margin: float = 0.1
) -> tuple[int, int, int, int]:
    """The zone's bounding box grown by ``margin`` of its larger side on every side, plus
    0.3 of its height upwards (a person standing at the far kerb rises above the zone),
    clipped to the frame; as ``(x1, y1, x2, y2)``.

    People must be tracked *before* they step in, hence the margin around the zone.

    >>> auto_region([(100, 100), (300, 100), (300, 200), (100, 200)], 640, 480)
    (80, 50, 320, 220)
    """
    pts = np.asarray(zone, np.float64)
    x1, y1 = pts.min(axis=0)
    x2, y2 = pts.max(axis=0)
    m = margin * max(x2 - x1, y2 - y1)
    up = 0.3 * (y2 - y1)
    return (
        int(max(0, np.floor(x1 - m))),
        int(max(0, np.floor(y1 - m - up))),
        int(min(frame_w, np.ceil(x2 + m))),
        int(min(frame_h, np.ceil(y2 + m))),
    )


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
