"""Reads the pedestrian signal from a fixed region of the camera image (``signal.roi``)."""

from __future__ import annotations

import numpy as np

from edge.config import ConfigError, SignalConfig
from edge.signal.base import SignalReading, SignalStatus
from edge.signal.colour import LampMeasurement, measure_head
from edge.signal.flashing import FlashDetector
from edge.signal.hysteresis import Hysteresis


class RoiColourReader:
    """A :class:`~edge.signal.base.SignalReader` that measures lit lamp colours in the ROI.

    Each frame is measured on its own (:func:`edge.signal.colour.measure_head`); a lamp
    blinking on and off is recognised as a flashing phase
    (:class:`~edge.signal.flashing.FlashDetector`), and the per-frame states pass through
    :class:`~edge.signal.hysteresis.Hysteresis`.
    ``last_measurement`` keeps the latest raw evidence (lit fractions) for the event record.
    """

    def __init__(self, cfg: SignalConfig) -> None:
        if cfg.roi is None:
            raise ConfigError("signal.roi: required when signal.source is 'roi'")
        self._cfg = cfg
        self._roi = cfg.roi
        self._hysteresis = Hysteresis(cfg.hysteresis_frames)
        lo, hi = cfg.flash_run_s
        self._flash = FlashDetector(lo, hi) if cfg.flash_detect else None
        self._checked_shape: tuple[int, int] | None = None
        self.last_measurement: LampMeasurement | None = None

    def _check_roi(self, frame: np.ndarray) -> None:
        """Fail loudly, once per frame size, if the ROI does not lie inside the frame:
        a clipped ROI would silently measure the wrong part of the signal head."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(
                f"signal reader: expected a BGR uint8 frame (H×W×3), got shape "
                f"{frame.shape} dtype {frame.dtype}"
            )
        shape = (frame.shape[0], frame.shape[1])
        if shape == self._checked_shape:
            return
        x, y, w, h = self._roi
        fh, fw = shape
        if x + w > fw or y + h > fh:
            raise ConfigError(
                f"signal.roi: [{x}, {y}, {w}, {h}] reaches x={x + w}, y={y + h}, outside the "
                f"{fw}×{fh} frame (expected x + w <= {fw} and y + h <= {fh})"
            )
        self._checked_shape = shape

    def update(self, frame_bgr: np.ndarray | None, t: float) -> SignalReading:
        if frame_bgr is None:
            raise ValueError("signal.source 'roi' needs a frame; got None")
        self._check_roi(frame_bgr)
        x, y, w, h = self._roi
        m = measure_head(
            frame_bgr[y : y + h, x : x + w],
            layout=self._cfg.layout,
            stop_colour=self._cfg.stop_colour,
            walk_colour=self._cfg.walk_colour,
            min_lit_fraction=self._cfg.min_lit_fraction,
            min_value=self._cfg.min_value,
        )
        self.last_measurement = m
        if self._flash is None:
            return self._hysteresis.update(m.state, t)
        state, started = self._flash.update(m.state, t)
        return self._hysteresis.update(state, t, started)

    def reset(self) -> None:
        """Call after a gap in frames (reconnect, stall): the phase showing next has an
        unseen start, so no red start is inherited across the gap."""
        self._hysteresis.reset()
        if self._flash is not None:
            self._flash.reset()

    def status(self) -> SignalStatus:
        """Reader-specific part of the status (the pipeline adds phase and timing)."""
        return SignalStatus(source="roi")
