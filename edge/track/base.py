"""The tracker interface: detections in, tracks with persistent ids out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from edge.detectors.base import Detections


@dataclass(frozen=True, slots=True)
class Tracks:
    """Confirmed tracks seen in the current frame.

    Attributes:
        xyxy: ``(N, 4)`` float32 boxes in pixels (the detection box, not the prediction).
        track_ids: ``(N,)`` int64 ids, stable across frames, never reused.
        scores: ``(N,)`` float32 detection scores.
        removed_ids: ids of tracks that ended at this update (lost for longer than the
            tracker's buffer); the face stage decides on those.
    """

    xyxy: np.ndarray
    track_ids: np.ndarray
    scores: np.ndarray
    removed_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))

    def __len__(self) -> int:
        return len(self.track_ids)

    @classmethod
    def empty(cls) -> Tracks:
        return cls(
            np.zeros((0, 4), np.float32), np.zeros((0,), np.int64), np.zeros((0,), np.float32)
        )


class Tracker(Protocol):
    def update(self, detections: Detections, t: float) -> Tracks:
        """Associate this frame's detections (at time ``t`` seconds) with existing tracks."""
        ...
