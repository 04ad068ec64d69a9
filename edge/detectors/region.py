"""Run a detector on the part of the frame where the rule applies.

The shipped SSD squeezes the whole frame into 300×300, so pedestrians at a kerb far
from the camera shrink to a few pixels and people walking side by side merge into one
box. Only the carriageway and the kerb around it matter to the crossing rule, so the
detector looks at that region (like the regions of NVRs such as Frigate) and people
there are seen at up to native resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from edge.detectors.base import Detections, Detector

if TYPE_CHECKING:
    from edge.config import DetectorConfig


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


def wrap_for_region(
    inner: Detector, cfg: DetectorConfig, zone: Sequence[tuple[float, float]]
) -> Detector:
    """The detector as the camera config places it: region (auto/full/fixed), tiled or not.

    The region and the tile plan depend on the frame size, so both are made at the first
    frame; the tile plan's cost is logged then (edge.detectors.tiling).
    """
    from edge.detectors.tiling import (
        SSD_MIN_INPUT_PX,
        YOLO_MIN_INPUT_PX,
        Perspective,
        TiledDetector,
        TilePlan,
        auto_tile_px,
        plan_perspective_tiles,
        plan_tiles,
    )

    def region_of(w: int, h: int) -> tuple[int, int, int, int]:
        if cfg.region == "auto":
            return auto_region(zone, w, h)
        if cfg.region == "full":
            return (0, 0, w, h)
        x, y, rw, rh = cfg.region
        return (x, y, x + rw, y + rh)

    tiling = cfg.tiling
    if tiling.mode == "off":
        if cfg.region == "full":
            return inner
        return RegionDetector(inner, region_of if cfg.region == "auto" else region_of(0, 0))

    native = int(getattr(inner, "input_size", 300))
    default_min = SSD_MIN_INPUT_PX if cfg.layout == "ssd" else YOLO_MIN_INPUT_PX
    min_input = tiling.min_input_px or default_min
    ys = [p[1] for p in zone]
    perspective = Perspective(
        far_y=min(ys),
        far_px=tiling.far_person_px,
        near_y=max(ys),
        near_px=tiling.near_person_px or tiling.far_person_px,
    )

    def make_plan(w: int, h: int) -> TilePlan:
        region = region_of(w, h)
        if tiling.mode == "on":
            tile = int(tiling.tile_px or native)
            overlap = tiling.overlap_px if tiling.overlap_px is not None else tile // 3
            return plan_tiles(region, tile, overlap, tiling.full_pass)
        if auto_tile_px(region, native, tiling.far_person_px, min_input) is None:
            return TilePlan(region, (), True)
        return plan_perspective_tiles(region, perspective, native, min_input, tiling.full_pass)

    return TiledDetector(inner, make_plan, nms_iou=cfg.nms_iou)
