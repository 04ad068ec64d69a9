"""Pedestrian-signal state readers: a colour rule on a ROI, or the controller's own feed.

Use :func:`create_signal_reader` with a camera's :class:`~edge.config.SignalConfig`; both
readers satisfy :class:`~edge.signal.base.SignalReader` (``update(frame_bgr, t)``).
"""

from __future__ import annotations

from edge.config import SignalConfig
from edge.signal.base import SignalReader, SignalReading, SignalState
from edge.signal.controller import (
    ControllerFeedReader,
    PhaseChange,
    PhaseFeedError,
    load_phase_feed,
)
from edge.signal.roi import RoiColourReader

__all__ = [
    "ControllerFeedReader",
    "PhaseChange",
    "PhaseFeedError",
    "RoiColourReader",
    "SignalReader",
    "SignalReading",
    "SignalState",
    "create_signal_reader",
    "load_phase_feed",
]


def create_signal_reader(cfg: SignalConfig) -> RoiColourReader | ControllerFeedReader:
    """The reader ``cfg.source`` asks for.

    A controller reader starts empty: feed it with ``push``/``extend`` (live messages, or
    :func:`load_phase_feed` for a recorded log).
    """
    if cfg.source == "roi":
        return RoiColourReader(cfg)
    return ControllerFeedReader(timeout_s=cfg.controller_timeout_s)
