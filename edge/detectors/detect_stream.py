"""Detect on the detect stream's image, report boxes in main-stream pixels.

The camera's zone, region and tiling are configured in main-stream pixels (the frames
the installer calibrated on and the evidence shows). When a frame comes with a smaller
detect image (a sub stream or the decoder's downscale, edge/av_capture.py), the
region/tiling chain is built once per image size in *detect* pixels (zone, fixed region
and person heights scaled) and its boxes are scaled back to main pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from edge.detectors.base import Detections, Detector

if TYPE_CHECKING:
    from edge.config import DetectorConfig


def scaled_detector_config(cfg: DetectorConfig, sx: float, sy: float) -> DetectorConfig:
    """``cfg`` with its pixel settings (fixed region, person heights, tile size) scaled
    from main-stream to detect-stream pixels."""
    region = cfg.region
    if isinstance(region, tuple):
        x, y, w, h = region
        region = (round(x * sx), round(y * sy), max(8, round(w * sx)), max(8, round(h * sy)))
    t = cfg.tiling

    def px(v: float | None, s: float, low: float = 8) -> float | None:
        return None if v is None else max(low, v * s)

    tiling = t.model_copy(
        update={
            "far_person_px": px(t.far_person_px, sy),
            "near_person_px": px(t.near_person_px, sy),
            "tile_px": None if t.tile_px is None else max(64, round(t.tile_px * sy)),
            "overlap_px": None if t.overlap_px is None else round(t.overlap_px * sy),
        }
    )
    return cfg.model_copy(update={"region": region, "tiling": tiling})


class DetectStreamDetector:
    """The camera's detector chain, run on the detect image when a frame has one."""

    def __init__(
        self,
        model: Detector,
        cfg: DetectorConfig,
        zone: Sequence[tuple[float, float]],
        wrap: Callable[[Detector, DetectorConfig, Sequence[tuple[float, float]]], Detector],
    ) -> None:
        self.model = model
        self._cfg = cfg
        self._zone = [tuple(map(float, p)) for p in zone]
        self._wrap = wrap
        self.main = wrap(model, cfg, zone)  # frames without a detect image
        self._chains: dict[tuple[int, int, int, int], Detector] = {}

    def reset(self) -> None:
        """Forget the chains made for earlier frame sizes (the region and tile plan are
        fixed at a chain's first frame): the frame size changed."""
        self.main = self._wrap(self.model, self._cfg, self._zone)
        self._chains.clear()

    @property
    def inner(self) -> Detector:
        return self.main

    def detect(self, frame_bgr: np.ndarray, detect_bgr: np.ndarray | None = None) -> Detections:
        """Pedestrians in ``frame_bgr``'s pixels, found on ``detect_bgr`` when given."""
        if detect_bgr is None:
            return self.main.detect(frame_bgr)
        mh, mw = frame_bgr.shape[:2]
        dh, dw = detect_bgr.shape[:2]
        sx, sy = dw / mw, dh / mh
        key = (mw, mh, dw, dh)
        chain = self._chains.get(key)
        if chain is None:
            zone = [(x * sx, y * sy) for x, y in self._zone]
            chain = self._wrap(self.model, scaled_detector_config(self._cfg, sx, sy), zone)
            self._chains[key] = chain
        found = chain.detect(detect_bgr)
        if len(found) == 0:
            return found
        scale = np.array([sx, sy, sx, sy], np.float32)
        return Detections((found.xyxy / scale).astype(np.float32), found.scores, found.class_ids)
