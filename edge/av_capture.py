"""Main and detect streams through FFmpeg (PyAV): the NVR split of detect and record roles.

The detector never needs 1080p: it squeezes what it sees into 300x300. Evidence stills,
faces and the clip do. So a camera may give the detector a low-resolution image while
everything else keeps the full-resolution main frame (``detect_stream`` in the camera
YAML):

* ``detect_stream.width`` without a source: each decoded main frame is converted twice by
  FFmpeg's scaler (libswscale, in C, once per frame): full size for evidence, small for the
  detector. Same frame, same timestamp.
* ``detect_stream.source``: the camera's own sub stream (a second RTSP URL or file),
  decoded beside the main one; each main frame is paired with the sub frame nearest to it
  in time (presentation times for files, arrival on the gateway's clock for live streams);
  further than ``max_skew_s`` away there is no pair and that frame is detected on the main
  image (``Frame.detect`` stays None), so a lagging sub stream never shifts boxes in time.

Decoding may run on the GPU/VPU (``stream.hwaccel``: an FFmpeg device type such as
``vaapi``, ``cuda``, ``qsv``, or ``auto``); when the device cannot be opened the stream
is decoded in software, and one line says which was used.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge.capture import CaptureError, Frame, is_live_source
from edge.clock import AnchoredClock

if TYPE_CHECKING:
    from edge.config import CameraConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Decoded:
    index: int  # frame number in the stream, counting the frames ``keep`` left out
    t: float  # seconds: presentation time (file) or the gateway clock (live)
    image: np.ndarray  # BGR
    small: np.ndarray | None = None  # the decoder's downscale, when asked for


def open_container(source: str | int, hwaccel: str, what: str, timeout_s: float = 5.0):
    """``av.open`` with ``hwaccel`` (or software), returning ``(container, used)``; logs
    one line naming the decoder used and why a requested device was not."""
    import av
    from av.codec.hwaccel import HWAccel, hwdevices_available

    url = str(source)
    live = is_live_source(source)
    options = {"rtsp_transport": "tcp"} if url.startswith("rtsp") else {}
    timeout = timeout_s if live else None
    candidates: list[str] = []
    if hwaccel == "auto":
        candidates = list(hwdevices_available())
    elif hwaccel != "off":
        candidates = [hwaccel]
    reasons = []
    for device in candidates:
        if device not in hwdevices_available():
            reasons.append(
                f"{device}: not in this FFmpeg build ({', '.join(hwdevices_available())})"
            )
            continue
        try:
            c = av.open(
                url,
                options=options,
                timeout=timeout,
                hwaccel=HWAccel(device_type=device, allow_software_fallback=True),
            )
        except Exception as e:  # av raises its own errno types per device failure
            reasons.append(f"{device}: {type(e).__name__}: {e}")
            continue
        log.info("%s: decoding on %s (hardware)", what, device)
        return c, device
    try:
        c = av.open(url, options=options, timeout=timeout)
    except Exception as e:
        raise CaptureError(f"{url}: cannot open ({type(e).__name__}: {e})") from None
    if candidates:
        log.warning(
            "%s: hwaccel %s unavailable (%s); decoding in software",
            what,
            hwaccel,
            "; ".join(reasons),
        )
    else:
        log.info("%s: decoding in software (stream.hwaccel: off)", what)
    return c, "software"


def _decode(
    container,
    clock: AnchoredClock | None,
    small_wh: tuple[int, int] | None,
    keep: Callable[[float], bool] | None = None,
) -> Iterator[_Decoded]:
    """Decoded frames of ``container``'s first video stream as :class:`_Decoded`.

    ``keep(t)`` decides before the BGR conversion whether a frame is wanted at all (the
    analysis rate): a 25 fps stream analysed at 10 fps then converts 10 frames a second,
    not 25 (OpenCV's file source likewise only *grabs* the frames it skips)."""
    stream = container.streams.video[0]
    # No thread_type="AUTO": FFmpeg's frame threads oversubscribe the 2-core gateway; the
    # whole decode runs on one prefetch thread instead (:class:`_Prefetch`).
    for index, vf in enumerate(container.decode(stream)):
        t = clock.now() if clock is not None else float(vf.time or 0.0)
        if keep is not None and not keep(t):
            continue
        image = vf.to_ndarray(format="bgr24")
        small = None
        if small_wh is not None:
            # Scale the already converted BGR image: a second swscale pass from YUV cost
            # ~1.5 ms/frame at 720p, cv2.resize ~0.4 ms.
            small = cv2.resize(image, small_wh, interpolation=cv2.INTER_AREA)
        yield _Decoded(index, t, image, small)


class _Prefetch:
    """Run a decode generator on its own thread, at most ``depth`` frames ahead.

    Why: the pipeline's frame loop is serial (decode, then detect). OpenCV's file source
    hides its decode in FFmpeg's frame threads, which keep decoding while the detector
    runs; a PyAV decode in the consumer's thread did not, and the decoder-downscale path
    ran slower than main only (bench_pipeline_720p.py). PyAV's decode and swscale and
    cv2.resize release the GIL, so here they overlap the inference. ``depth`` bounds the
    memory (720p BGR: 2.8 MB a frame); with ``drop_oldest`` (live streams) the oldest
    waiting frame makes room instead of the decoder waiting. The consumer must call
    :meth:`close` before it closes the container (FFmpeg objects are not to be used from
    two threads at once).
    """

    _END = object()

    def __init__(
        self, frames: Iterator[_Decoded], name: str, depth: int = 2, drop_oldest: bool = False
    ) -> None:
        self._frames = frames
        self._drop_oldest = drop_oldest
        self.dropped = 0
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for d in self._frames:
                if self._drop_oldest and self._q.full():
                    # Live: a consumer that falls behind gets the newest frames, not an
                    # ever older backlog (their times were taken on arrival).
                    try:
                        self._q.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass
                if not self._put(d):
                    return
        except Exception as e:  # handed to the consumer, raised there
            self._put(e)
            return
        self._put(self._END)

    def __iter__(self) -> Iterator[_Decoded]:
        while True:
            item = self._q.get()
            if item is self._END:
                return
            if isinstance(item, Exception):
                raise item
            yield item  # type: ignore[misc]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def detect_size(main_w: int, main_h: int, width: int) -> tuple[int, int]:
    """The detect image's size for ``width``: the main frame's aspect, even sides.

    >>> detect_size(1920, 1080, 640)
    (640, 360)
    """
    w = min(width, main_w)
    h = round(main_h * w / main_w)
    return w - w % 2, max(2, h - h % 2)


class SubStreamPairer:
    """Sub-stream frames kept for a short while; :meth:`pair` gives the one nearest in
    time to a main frame, if within ``max_skew_s``."""

    def __init__(self, max_skew_s: float, keep_s: float = 2.0) -> None:
        self.max_skew_s = max_skew_s
        self.keep_s = keep_s
        self._frames: collections.deque[tuple[float, np.ndarray]] = collections.deque()
        self._lock = threading.Lock()
        self.paired = 0
        self.unpaired = 0

    def add(self, t: float, image: np.ndarray) -> None:
        with self._lock:
            self._frames.append((t, image))
            while self._frames and self._frames[0][0] < t - self.keep_s:
                self._frames.popleft()

    def newest_t(self) -> float | None:
        with self._lock:
            return self._frames[-1][0] if self._frames else None

    def pair(self, t: float) -> np.ndarray | None:
        with self._lock:
            best = min(self._frames, key=lambda f: abs(f[0] - t), default=None)
        if best is None or abs(best[0] - t) > self.max_skew_s + 1e-9:
            self.unpaired += 1
            return None
        self.paired += 1
        return best[1]


class AvSource:
    """Frames of a camera's main stream with their detect image (see the module doc).

    Files are read as fast as the consumer takes them (times from the file); live URLs
    reconnect with back-off like :class:`edge.capture.LiveSource` (a new ``segment``
    each time), their times on the gateway's anchored clock.
    """

    def __init__(
        self,
        main: str | int | Path,
        *,
        camera_id: str = "camera",
        analysis_fps: float | None = None,
        detect_source: str | int | Path | None = None,
        detect_width: int | None = None,
        max_skew_s: float = 0.05,
        hwaccel: str = "off",
        clock: AnchoredClock | None = None,
        wall0: float | None = None,
        max_backoff_s: float = 30.0,
        read_timeout_s: float = 5.0,
    ) -> None:
        self.main = str(main)
        self.live = is_live_source(self.main)
        if not self.live and not Path(self.main).is_file():
            raise CaptureError(f"{self.main}: video file not found")
        ds = None if detect_source is None else str(detect_source)
        if ds is not None and not is_live_source(ds) and not Path(ds).is_file():
            raise CaptureError(f"{detect_source}: detect_stream.source: video file not found")
        self.camera_id = camera_id
        self.analysis_fps = analysis_fps
        self.detect_source = None if detect_source is None else str(detect_source)
        self.detect_width = detect_width
        self.pairer = SubStreamPairer(max_skew_s)
        self.hwaccel = hwaccel
        self.clock = clock or AnchoredClock()
        self.wall0 = wall0
        self.max_backoff_s = max_backoff_s
        self.read_timeout_s = read_timeout_s
        self.decoder_used: str | None = None  # "software" or the hardware device type
        self.up = False
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True

    def expected_frames(self) -> int:
        return 0

    # --- iteration ----------------------------------------------------------------------

    def __iter__(self) -> Iterator[Frame]:
        if not self.live:
            yield from self._file_frames()
            return
        yield from self._live_frames()

    def _small_wh(self, container) -> tuple[int, int] | None:
        if self.detect_width is None:
            return None
        s = container.streams.video[0]
        return detect_size(s.codec_context.width, s.codec_context.height, self.detect_width)

    def _rate(self) -> Callable[[float], bool]:
        """``keep(t)`` for the analysis rate: the first frame, then one per ``1/fps``."""
        step = 1.0 / self.analysis_fps if self.analysis_fps else 0.0
        next_t: float | None = None

        def keep(t: float) -> bool:
            nonlocal next_t
            if next_t is not None and t + 1e-6 < next_t:
                return False
            next_t = (t if next_t is None else next_t) + step
            return True

        return keep

    def _log_pairing(self) -> None:
        p = self.pairer
        if self.detect_source is not None and p.paired + p.unpaired:
            log.info(
                "camera %s detect stream: %d of %d frames paired (max_skew_s %.3f)",
                self.camera_id,
                p.paired,
                p.paired + p.unpaired,
                p.max_skew_s,
            )

    def _file_frames(self) -> Iterator[Frame]:
        main, self.decoder_used = open_container(
            self.main, self.hwaccel, f"camera {self.camera_id} main stream"
        )
        sub_c = None
        if self.detect_source is not None:
            try:
                sub_c, _ = open_container(
                    self.detect_source, self.hwaccel, f"camera {self.camera_id} detect stream"
                )
            except CaptureError:
                main.close()
                raise
        main_pf = sub_pf = None
        sub_iter: Iterator[_Decoded] | None = None
        t0 = None
        pending_sub: _Decoded | None = None
        index = -1
        try:
            if sub_c is not None:
                sub_pf = _Prefetch(_decode(sub_c, None, None), f"decode-sub-{self.camera_id}")
                sub_iter = iter(sub_pf)
            small_wh = None if sub_c is not None else self._small_wh(main)
            main_pf = _Prefetch(
                _decode(main, None, small_wh, keep=self._rate()), f"decode-{self.camera_id}"
            )
            for d in main_pf:
                index = d.index
                t0 = d.t if t0 is None else t0
                detect = d.small
                if sub_iter is not None:
                    # Read the sub stream up to just past this frame's time, then pair.
                    while pending_sub is None or pending_sub.t <= d.t + self.pairer.max_skew_s:
                        if pending_sub is not None:
                            self.pairer.add(pending_sub.t, pending_sub.image)
                        pending_sub = next(sub_iter, None)
                        if pending_sub is None:
                            break
                    detect = self.pairer.pair(d.t)
                t = d.t - t0
                wall = None if self.wall0 is None else self.wall0 + t
                self.up = True
                yield Frame(index=index, t=t, image=d.image, wall=wall, detect=detect)
        except Exception as e:
            if index < 0:
                raise CaptureError(f"{self.main}: no frame could be decoded ({e})") from None
            raise CaptureError(
                f"{self.main}: decoding stopped after frame {index + 1} ({e})"
            ) from None
        finally:
            for pf in (main_pf, sub_pf):
                if pf is not None:
                    pf.close()  # before the containers: FFmpeg objects, one thread at a time
            main.close()
            if sub_c is not None:
                sub_c.close()
            self._log_pairing()
        if index < 0:
            raise CaptureError(f"{self.main}: no frame could be decoded (corrupt or not a video)")

    def _live_frames(self) -> Iterator[Frame]:
        sub_thread = None
        if self.detect_source is not None:
            sub_thread = threading.Thread(
                target=self._read_sub, name=f"detect-stream-{self.camera_id}", daemon=True
            )
            sub_thread.start()
        backoff, index, segment, last_t = 1.0, 0, -1, -1e9
        min_dt = 1.0 / self.analysis_fps if self.analysis_fps else 0.0
        what = f"camera {self.camera_id} main stream"

        def keep(t: float) -> bool:
            nonlocal last_t
            if t - last_t + 1e-6 < min_dt:
                return False
            last_t = t
            return True

        while not self._stopped:
            try:
                c, self.decoder_used = open_container(
                    self.main, self.hwaccel, what, self.read_timeout_s
                )
            except CaptureError as e:
                self.up = False
                log.warning("%s; retrying in %.0f s", e, backoff)
                self._sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            backoff, segment = 1.0, segment + 1
            base = index
            # Decoded on its own thread: each frame's time is taken when it arrives,
            # not when the pipeline gets round to it (the sub stream's are, on its
            # thread: pairing compares the two), and a slow pipeline gets the newest.
            small_wh = None if self.detect_source is not None else self._small_wh(c)
            pf = _Prefetch(
                _decode(c, self.clock, small_wh, keep=keep),
                f"decode-{self.camera_id}",
                drop_oldest=True,
            )
            try:
                for d in pf:
                    if self._stopped:
                        break
                    self.up = True
                    index = base + d.index + 1
                    detect = d.small if sub_thread is None else self.pairer.pair(d.t)
                    wall = self.clock.wall_of(d.t)
                    yield Frame(index, d.t, d.image, wall=wall, segment=segment, detect=detect)
                log.warning("%s ended; reconnecting", what)
            except Exception as e:  # a dropped stream: reconnect, never raise
                log.warning("%s dropped (%s); reconnecting", what, e)
            finally:
                self.up = False
                pf.close()
                c.close()
        self._log_pairing()

    def _read_sub(self) -> None:
        """Keep the newest sub-stream frames (gateway clock) for pairing; reconnects."""
        backoff = 1.0
        what = f"camera {self.camera_id} detect stream"
        while not self._stopped:
            try:
                c, _ = open_container(self.detect_source, self.hwaccel, what, self.read_timeout_s)  # type: ignore[arg-type]
            except CaptureError as e:
                log.warning("%s; retrying in %.0f s", e, backoff)
                self._sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            backoff = 1.0
            try:
                for d in _decode(c, self.clock, None):
                    if self._stopped:
                        break
                    self.pairer.add(d.t, d.image)
            except Exception as e:
                log.warning("%s dropped (%s); reconnecting", what, e)
            finally:
                c.close()

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stopped and time.monotonic() < end:
            time.sleep(min(0.1, end - time.monotonic()))


def camera_source(
    cfg: CameraConfig,
    source: str | int | Path,
    *,
    analysis_fps: float | None = None,
    clock: AnchoredClock | None = None,
    wall0: float | None = None,
):  # -> AvSource | LiveSource | VideoFileSource
    """The frame source a camera's config asks for: FFmpeg (PyAV) with the detect stream
    and/or hardware decode when ``detect_stream`` or ``stream.hwaccel`` is set, else the
    OpenCV sources of edge/capture.py."""
    from edge.capture import LiveSource, VideoFileSource

    fps = analysis_fps if analysis_fps is not None else cfg.fps
    ds, stream = cfg.detect_stream, cfg.stream
    live = is_live_source(source if not isinstance(source, Path) else str(source))
    if ds is None and stream.hwaccel == "off":
        if live:
            return LiveSource(
                source if not isinstance(source, Path) else str(source),
                fps,
                max_backoff_s=stream.reconnect_max_s,
                read_timeout_s=stream.read_timeout_s,
                clock=clock,
            )
        return VideoFileSource(Path(str(source)), fps, wall0=wall0)
    return AvSource(
        source,
        camera_id=cfg.id,
        analysis_fps=fps,
        detect_source=None if ds is None else ds.source,
        detect_width=None if ds is None else ds.width,
        max_skew_s=0.05 if ds is None else ds.max_skew_s,
        hwaccel=stream.hwaccel,
        clock=clock,
        wall0=wall0,
        max_backoff_s=stream.reconnect_max_s,
        read_timeout_s=stream.read_timeout_s,
    )
