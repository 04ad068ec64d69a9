"""Evidence: the frames that show the person entering the carriageway, signal visible.

A short ring buffer of recent analysed frames (with each track's box on them) lets a
violation, confirmed a few frames after the entry, still take the frame *before* the
entry and the entry frame itself; the *after* frame is taken when it arrives.
Frames are kept as references (the capture hands out a new array per frame): no copies.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from edge.capture import Frame

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class BufferedFrame:
    frame: Frame
    boxes: dict[int, Box]  # track id → xyxy on this frame
    phase: str = "unknown"  # signal phase read on this frame
    red_for_s: float | None = None  # time since red on this frame (None: not red / unseen)


@dataclass(frozen=True, slots=True)
class FrameFacts:
    """One frame of a violation's evidence, not yet anonymised: the frame (a reference,
    no copy), the violator's box on it (None where the detector missed them) and the
    signal as read on it."""

    frame: Frame
    box: Box | None
    phase: str
    red_for_s: float | None

    @staticmethod
    def of(bf: BufferedFrame, track_id: int) -> FrameFacts:
        return FrameFacts(bf.frame, bf.boxes.get(track_id), bf.phase, bf.red_for_s)

    @property
    def foot(self) -> tuple[float, float] | None:
        """Bottom-centre of the box: the point the crossing rule tests against the zone."""
        if self.box is None:
            return None
        x1, _, x2, y2 = self.box
        return ((x1 + x2) / 2, y2)


@dataclass(frozen=True, slots=True)
class RawEvidence:
    """What the pipeline hands over for rendering (edge/evidence_render.py), off the
    frame loop: the stills' frames by role and the clip's frames in order."""

    stills: dict[str, FrameFacts]  # "before" | "entry" | "after"
    clip: list[FrameFacts]
    face_jpeg: bytes | None = None  # the matched violator's best face crop


@dataclass(frozen=True, slots=True)
class EvidenceShot:
    """One evidence image, already anonymised and encoded."""

    role: str  # "before" | "entry" | "after" | "face"
    frame: int
    t: float
    jpeg: bytes
    blurred_faces: int = 0
    facts: FrameFacts | None = None  # what the still shows (None for the face crop)
    bar_px: int = 0  # height of the data bar burned in below the scene


@dataclass(frozen=True, slots=True)
class EvidenceClipData:
    """The violation as WebM video, anonymised."""

    webm: bytes
    codec: str
    fps: float
    first: FrameFacts
    last: FrameFacts
    frames: int
    width: int
    height: int
    blurred_faces: int
    blur_s: float  # wall time finding and blurring faces, drawing data bars (bench, logs)
    encode_s: float  # wall time in the VP8 encoder


class FrameBuffer:
    """The last ``keep_s`` seconds of analysed frames."""

    # A camera sending 8K frames (100 MB each) at 10 fps would hold gigabytes for a
    # few seconds of history: past this many bytes the oldest frames go first (the
    # evidence's "before" frame may then be later than configured; logged once).
    MAX_BYTES = 1 << 30

    def __init__(self, keep_s: float, max_bytes: int = MAX_BYTES) -> None:
        self.keep_s = keep_s
        self.max_bytes = max_bytes
        self._frames: deque[BufferedFrame] = deque()
        self._bytes = 0
        self._warned = False

    def add(
        self,
        frame: Frame,
        boxes: dict[int, Box],
        phase: str = "unknown",
        red_for_s: float | None = None,
    ) -> None:
        self._frames.append(BufferedFrame(frame, boxes, phase, red_for_s))
        self._bytes += frame.nbytes
        while self._frames and frame.t - self._frames[0].frame.t > self.keep_s:
            self._bytes -= self._frames.popleft().frame.nbytes
        while len(self._frames) > 1 and self._bytes > self.max_bytes:
            if not self._warned:
                self._warned = True
                log.warning(
                    "evidence buffer: %d %dx%d frames exceed %d MB; keeping %.1f s instead "
                    "of %.1f s (lower the camera's resolution or fps)",
                    len(self._frames),
                    *frame.size,
                    self.max_bytes >> 20,
                    frame.t - self._frames[1].frame.t,
                    self.keep_s,
                )
            self._bytes -= self._frames.popleft().frame.nbytes

    def latest(self) -> BufferedFrame | None:
        """The last frame added (safe from another thread: one deque read under the GIL)."""
        try:
            return self._frames[-1]
        except IndexError:
            return None

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

    def since(self, t: float) -> list[BufferedFrame]:
        """Every buffered frame not earlier than ``t``, oldest first."""
        return [bf for bf in self._frames if bf.frame.t >= t - 1e-9]

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
