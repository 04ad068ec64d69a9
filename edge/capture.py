"""Frames from video files and live streams, with timestamps and an analysis rate.

Files are read as fast as the pipeline takes them, sub-sampled to the analysis rate
by *grabbing* (not decoding) the frames in between, on a decode-ahead thread a couple of
frames ahead of the pipeline (:func:`edge.ahead.ahead`). Live streams (RTSP/HTTP/device
index) reconnect with exponential back-off when they drop; their timestamps come from a
monotonic clock anchored once to wall-clock time (:class:`edge.clock.AnchoredClock`),
and every frame carries both. A read that blocks longer than ``read_timeout_s`` counts
as a drop. Each reconnect starts a new ``segment``: the pipeline resets what must not
be carried across it (edge/pipeline.py).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from edge.ahead import ahead
from edge.clock import AnchoredClock

log = logging.getLogger(__name__)

# FFmpeg prints its own complaints ("moov atom not found") to stderr; our errors say it
# once, clearly. Read by OpenCV when it first opens a video, so set before that.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


class CaptureError(RuntimeError):
    """A source that cannot be read; the message names the source and what went wrong."""


class MainImage(Protocol):
    """A main-stream picture decoded but not yet converted to BGR (edge/av_capture.py's
    sub-stream mode): converted when something needs full-resolution pixels."""

    width: int
    height: int

    def bgr(self) -> np.ndarray: ...

    def crop(self, x: int, y: int, w: int, h: int) -> np.ndarray: ...

    def luma(self) -> np.ndarray: ...


class Frame:
    """One analysed frame.

    Attributes:
        index: frame number in the source (0-based; gaps where frames were skipped).
        t: seconds since the start of the video or the stream's clock anchor.
        image: BGR uint8 ``(H, W, 3)`` of the main stream. With ``main`` given instead
            (sub-stream mode), converted on first access and kept: per-frame stages use
            :attr:`detect`, :meth:`crop` and :attr:`size`, which do not convert.
        wall: POSIX seconds of ``t`` (the clock's anchor + ``t``), ``None`` if unknown.
        segment: 0 for the first connection; +1 on every reconnect of a live stream.
        detect: the detect stream's image of the same moment (sub stream or decoder
            downscale, edge/av_capture.py), BGR, smaller than ``image``; ``None`` = the
            detector sees ``image``.
    """

    __slots__ = ("_image", "_main", "detect", "index", "segment", "t", "wall")

    def __init__(
        self,
        index: int,
        t: float,
        image: np.ndarray | None = None,
        wall: float | None = None,
        segment: int = 0,
        detect: np.ndarray | None = None,
        *,
        main: MainImage | None = None,
    ) -> None:
        if (image is None) == (main is None):
            raise ValueError("Frame: exactly one of image and main")
        self.index, self.t, self.wall, self.segment = index, t, wall, segment
        self.detect = detect
        self._image = image
        self._main = main

    @property
    def image(self) -> np.ndarray:
        if self._image is None:
            self._image = self._main.bgr()  # type: ignore[union-attr]
        return self._image

    @property
    def on_demand(self) -> bool:
        """The main image is converted only when asked for (:attr:`image`)."""
        return self._main is not None

    @property
    def converted(self) -> bool:
        """The BGR main image exists (always, unless :attr:`on_demand` and not asked for)."""
        return self._image is not None

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the main image, without converting it."""
        if self._main is not None:
            return self._main.width, self._main.height
        h, w = self._image.shape[:2]  # type: ignore[union-attr]
        return int(w), int(h)

    @property
    def nbytes(self) -> int:
        """Bytes of the BGR main image (converted or not: the same before and after, so a
        buffer's byte count stays balanced; an unconverted frame holds about half)."""
        if self._image is not None:
            return int(self._image.nbytes)
        w, h = self.size
        return w * h * 3

    def crop(self, x: int, y: int, w: int, h: int) -> np.ndarray:
        """``image[y:y+h, x:x+w]``, the same pixels, converting only that region when the
        full image has not been converted (a signal head's ROI on every frame)."""
        if self._image is None and self._main is not None:
            return self._main.crop(x, y, w, h)
        return self.image[y : y + h, x : x + w]

    def frozen_sample(self) -> np.ndarray:
        """~1/256 of the main image's pixels (every 16th row and column) for an exact
        "nothing changed" check: the Y plane's when the image is converted on demand
        (never converts), else the BGR image's."""
        if self._main is not None:
            return self._main.luma()[::16, ::16]
        return self.image[::16, ::16]

    def __repr__(self) -> str:
        return f"Frame(index={self.index}, t={self.t:.3f}, size={self.size}, seg={self.segment})"


def as_bgr(image: np.ndarray) -> np.ndarray:
    """``image`` as uint8 BGR ``(H, W, 3)``: grey and BGRA frames (a device with colour
    conversion off, some USB cameras) are converted, 16-bit ones scaled to 8 bits;
    a BGR uint8 frame is returned as is (the hot path: two attribute reads).

    >>> as_bgr(np.zeros((4, 6), np.uint8)).shape, as_bgr(np.zeros((4, 6, 4), np.uint8)).shape
    ((4, 6, 3), (4, 6, 3))
    """
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise CaptureError(f"frame: expected 8 or 16-bit pixels, got {image.dtype}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    raise CaptureError(f"frame: expected a grey, BGR or BGRA image, got shape {image.shape}")


def is_live_source(source: str | int) -> bool:
    """A device index or a URL is live; anything else is a file path.

    >>> is_live_source(0), is_live_source("rtsp://cam/stream"), is_live_source("a.mp4")
    (True, True, False)
    """
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return True
    return "://" in str(source)


def live_rate(fps: float | None) -> Callable[[float], bool]:
    """``keep(t)`` for a live stream's analysis rate, ``t`` its arrival times.

    Arrival jitters: a 10 fps camera's frames come 90-110 ms apart, and a plain "at least
    1/fps since the last kept one" drops every frame that comes a little early (a 10 fps
    camera analysed at 10 fps gave ~6 fps on a loopback pair). So frames are kept on a
    schedule of 1/fps slots with a quarter slot of slack; after a gap the schedule
    restarts from the frame (no burst to catch up).

    >>> keep = live_rate(10)
    >>> [keep(t) for t in (0.0, 0.095, 0.21, 0.29, 0.33, 0.41)]
    [True, True, True, True, False, True]
    """
    step = 1.0 / fps if fps else 0.0
    slack = 0.25 * step
    due: float | None = None

    def keep(t: float) -> bool:
        nonlocal due
        if due is not None and t + slack < due:
            return False
        due = t + step if due is None else max(due + step, t + step - slack)
        return True

    return keep


def _keep_every(source_fps: float, analysis_fps: float | None) -> float:
    """Step between analysed frames, in source frames (1.0 = every frame)."""
    if not analysis_fps or source_fps <= 0 or analysis_fps >= source_fps:
        return 1.0
    return source_fps / analysis_fps


class VideoFileSource:
    """Iterate a video file's frames at the analysis rate.

    Decoding runs up to ``prefetch`` frames ahead on its own thread (0: in the consumer's
    thread). Why: the frame loop is serial (decode, then motion gate, detector, tracker
    ...); OpenCV's grab/retrieve release the GIL, so on a thread they overlap the
    inference (onnxruntime releases it too) instead of adding to it. Measured with
    bench/bench_pipeline_720p.py (``main_only`` against ``main_only_sync``).

    Raises :class:`CaptureError` for a missing or undecodable file, and at the end of
    iteration when decoding stopped well before the frame count the container declared
    (a truncated or corrupt file), after yielding every frame that did decode.
    """

    def __init__(
        self,
        path: str | Path,
        analysis_fps: float | None = None,
        wall0: float | None = None,
        prefetch: int = 2,
    ) -> None:
        self.path = Path(path)
        self.wall0 = wall0  # POSIX time of frame 0, if the caller anchors one
        self.prefetch = prefetch
        if not self.path.is_file():
            raise CaptureError(f"{self.path}: video file not found")
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise CaptureError(f"{self.path}: not a readable video (OpenCV could not open it)")
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        # Some containers report 0 or absurd rates; 25 is the broadcast default.
        self.fps = fps if 1.0 <= fps <= 240.0 else 25.0
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.step = _keep_every(self.fps, analysis_fps)

    def expected_frames(self) -> int:
        """How many frames iteration should yield (for a progress bar)."""
        return int(np.ceil(self.frame_count / self.step)) if self.frame_count > 0 else 0

    def __iter__(self) -> Iterator[Frame]:
        if self.prefetch <= 0:
            return self._decode()
        return ahead(self._decode(), f"decode {self.path.name}", self.prefetch)

    def _decode(self) -> Iterator[Frame]:
        index = -1
        next_keep = 0.0
        decoded_any = False
        try:
            while True:
                if not self._cap.grab():
                    break
                index += 1
                if index + 1e-9 < next_keep:
                    continue
                ok, image = self._cap.retrieve()
                if not ok or image is None:
                    break
                decoded_any = True
                next_keep += self.step
                t = index / self.fps
                wall = None if self.wall0 is None else self.wall0 + t
                yield Frame(index=index, t=t, image=as_bgr(image), wall=wall)
        finally:
            self._cap.release()
        if not decoded_any:
            raise CaptureError(f"{self.path}: no frame could be decoded (corrupt or not a video)")
        # Containers may over-report the count by a frame or two; a real shortfall is damage.
        if self.frame_count > 0 and index + 1 < self.frame_count - max(2, self.frame_count // 100):
            raise CaptureError(
                f"{self.path}: decoding stopped at frame {index + 1} of {self.frame_count} "
                "(file truncated or corrupt)"
            )


class LiveSource:
    """A live stream with reconnect and exponential back-off.

    Frames are pulled at the analysis rate; the newest decoded frame wins (a slow
    consumer never builds a backlog of stale frames). Never raises on a dropped stream:
    it logs, waits (1 s, 2 s, 4 s … ``max_backoff_s``) and reconnects; ``up`` says
    whether frames are arriving, for the health report. ``read_timeout_s`` bounds how
    long opening the stream or reading one frame may block (FFmpeg back-end, i.e. URLs;
    a device index uses the driver's own timeout): a stream that stalls without closing
    is then treated as dropped and reconnected.
    """

    def __init__(
        self,
        source: str | int,
        analysis_fps: float | None = None,
        max_backoff_s: float = 30.0,
        read_timeout_s: float = 5.0,
        clock: AnchoredClock | None = None,
    ) -> None:
        if not read_timeout_s > 0:
            raise ValueError(f"read_timeout_s: expected > 0, got {read_timeout_s}")
        self.source = int(source) if isinstance(source, str) and source.isdigit() else source
        self.analysis_fps = analysis_fps
        self.max_backoff_s = max_backoff_s
        self.read_timeout_s = read_timeout_s
        self.clock = clock or AnchoredClock()
        self.up = False
        self.reconnects = 0
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True

    def _open(self) -> cv2.VideoCapture | None:
        if isinstance(self.source, int):
            cap = cv2.VideoCapture(self.source)
        else:
            ms = int(self.read_timeout_s * 1000)
            cap = cv2.VideoCapture(
                self.source,
                cv2.CAP_FFMPEG,
                [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms],
            )
        if not cap.isOpened():
            cap.release()
            return None
        return cap

    def __iter__(self) -> Iterator[Frame]:
        backoff = 1.0
        index = 0
        keep = live_rate(self.analysis_fps)
        segment = -1
        while not self._stopped:
            cap = self._open()
            if cap is None:
                self.up = False
                log.warning(
                    "camera source %s unavailable; retrying in %.0f s", self.source, backoff
                )
                self._sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                self.reconnects += 1
                continue
            backoff = 1.0
            segment += 1
            while not self._stopped:
                ok, image = cap.read()
                if not ok or image is None or image.size == 0:
                    log.warning("camera source %s dropped; reconnecting", self.source)
                    break
                self.up = True
                t = self.clock.now()
                index += 1
                if not keep(t):
                    continue
                try:
                    image = as_bgr(image)
                except CaptureError as e:  # a frame no detector can take: drop it
                    log.warning("camera source %s: %s; frame dropped", self.source, e)
                    continue
                yield Frame(index, t, image, wall=self.clock.wall_of(t), segment=segment)
            self.up = False
            cap.release()

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stopped and time.monotonic() < end:
            time.sleep(min(0.1, end - time.monotonic()))
