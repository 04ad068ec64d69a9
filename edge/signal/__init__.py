"""Pedestrian-signal state readers: a colour rule on a ROI, or the controller's own feed.

Use :func:`create_signal_reader` with a camera's :class:`~edge.config.SignalConfig`; both
readers satisfy :class:`~edge.signal.base.SignalReader` (``update(frame_bgr, t)``).

The ROI reader (OpenCV) is imported only when asked for, so the pure parts (the states
the rule reads, the controller feed) import on a machine without OpenCV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edge.config import SignalConfig
from edge.signal.base import SignalReader, SignalReading, SignalState
from edge.signal.controller import (
    ControllerFeedReader,
    PhaseChange,
    PhaseFeedError,
    load_phase_feed,
)

if TYPE_CHECKING:
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
        from edge.signal.roi import RoiColourReader

        return RoiColourReader(cfg)
    return ControllerFeedReader(timeout_s=cfg.controller_timeout_s)


def __getattr__(name: str) -> Any:
    """``from edge.signal import RoiColourReader`` still works: imported on first use."""
    if name == "RoiColourReader":
        from edge.signal.roi import RoiColourReader

        return RoiColourReader
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
