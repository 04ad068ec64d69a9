"""Evidence: the frames that show the person entering the carriageway, signal visible.

A short ring buffer of recent analysed frames (with each track's box on them) lets a
violation, confirmed a few frames after the entry, still take the frame *before* the
entry and the entry frame itself; the *after* frame is taken when it arrives.
Frames are kept as references (the capture hands out a new array per frame): no copies.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from edge.capture import Frame


@dataclass(frozen=True, slots=True)
class BufferedFrame:
    frame: Frame
    boxes: dict[int, tuple[float, float, float, float]]  # track id → xyxy on this frame


@dataclass(frozen=True, slots=True)
class EvidenceShot:
    """One evidence image, already anonymised and encoded."""

    role: str  # "before" | "entry" | "after"
    frame: int
    t: float
    jpeg: bytes
    blurred_faces: int = 0


class FrameBuffer:
    """The last ``keep_s`` seconds of analysed frames."""

    def __init__(self, keep_s: float) -> None:
        self.keep_s = keep_s
        self._frames: deque[BufferedFrame] = deque()

    def add(self, frame: Frame, boxes: dict[int, tuple[float, float, float, float]]) -> None:
        self._frames.append(BufferedFrame(frame, boxes))
        while self._frames and frame.t - self._frames[0].frame.t > self.keep_s:
            self._frames.popleft()

    def by_index(self, index: int) -> BufferedFrame | None:
        for bf in reversed(self._frames):
            if bf.frame.index == index:
                return bf
        return None

    def at_or_before(self, t: float) -> BufferedFrame | None:
        """The newest buffered frame not later than ``t`` (else the oldest one kept)."""
        best = None
        for bf in self._frames:
            if bf.frame.t <= t + 1e-9:
                best = bf
            else:
                break
        return best if best is not None else (self._frames[0] if self._frames else None)

    def before(self, t: float, track_id: int) -> BufferedFrame | None:
        """The 'before' shot: the newest frame not later than ``t`` on which the track was
        seen (a frame where the detector missed the person shows nothing of them); else
        the earliest frame with the track; else the frame at ``t``."""
        best = first_with = None
        for bf in self._frames:
            if track_id in bf.boxes:
                first_with = first_with or bf
                if bf.frame.t <= t + 1e-9:
                    best = bf
        return best or first_with or self.at_or_before(t)


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
