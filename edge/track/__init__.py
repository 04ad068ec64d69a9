"""Multi-object tracking of pedestrians: detections in, tracks with persistent ids out."""

from __future__ import annotations

from edge.config import TrackerConfig
from edge.track.base import Tracker, Tracks


def create_tracker(cfg: TrackerConfig) -> Tracker:
    """The tracker for one camera, built from its ``tracker:`` config section.

    Raises:
        ValueError: the thresholds contradict each other (message names the key).
    """
    from edge.track.bytetrack import ByteTracker

    return ByteTracker(cfg)


__all__ = ["Tracker", "TrackerConfig", "Tracks", "create_tracker"]
