"""One small interface every detector plugin implements, and one normalised result shape.

A detector turns a BGR frame into :class:`Detections`; everything downstream (tracker,
rule, evidence) sees only this shape, whatever model or output layout produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True, slots=True)
class Detections:
    """Boxes found in one frame, in pixels of that frame.

    Attributes:
        xyxy: ``(N, 4)`` float32 ``[x1, y1, x2, y2]``.
        scores: ``(N,)`` float32 confidences in ``[0, 1]``.
        class_ids: ``(N,)`` int32 class index of the model (pedestrian for the shipped SSD).

    >>> d = Detections.empty()
    >>> len(d), d.xyxy.shape
    (0, (0, 4))
    """

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int32))

    def __post_init__(self) -> None:
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must be (N, 4), got {self.xyxy.shape}")
        if len(self.scores) != len(self.xyxy):
            raise ValueError("scores and xyxy differ in length")
        if len(self.class_ids) != len(self.xyxy):
            object.__setattr__(self, "class_ids", np.zeros(len(self.xyxy), np.int32))

    def __len__(self) -> int:
        return len(self.xyxy)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def filter(self, keep: np.ndarray) -> Detections:
        """Subset by boolean mask or index array."""
        return Detections(self.xyxy[keep], self.scores[keep], self.class_ids[keep])


@runtime_checkable
class Detector(Protocol):
    """What the pipeline needs from a detector plugin."""

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        """Find pedestrians in a full-resolution BGR uint8 frame ``(H, W, 3)``."""
        ...
