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

from edge.capture import CaptureError, Frame, is_live_source, live_rate
from edge.clock import AnchoredClock

if TYPE_CHECKING:
    from edge.config import CameraConfig

log = logging.getLogger(__name__)

# A live stream's first frames after (re)connecting are the demuxer's probe backlog,
# decoded at once: their arrival times are not their moments, so they are not paired.
_WARMUP_S = 1.0
# Live: how much FFmpeg probes before the stream opens. Its defaults (5 s for MPEG-TS
# over TCP/HTTP/UDP) delay the open by 5 s, deliver those 5 s as one burst, and a PyAV
# read timeout shorter than the open then fails the first read (seen on a loopback pair).
_LIVE_PROBE = {"analyzeduration": "500000", "probesize": "500000"}


class OnDemandMain:
    """A decoded main-stream frame (YUV, as FFmpeg gives it), converted to BGR only when
    full resolution is asked for (:class:`edge.capture.MainImage`).

    Why: in sub-stream mode the detector, motion gate and signal reader never need the
    main image; its BGR conversion (and the BGR frame's memory, twice the YUV's) was most
    of what the main stream cost per frame (bench/bench_pipeline_720p.py). :meth:`bgr`
    is the same swscale conversion the always-converted path makes, so evidence is the
    same bytes; :meth:`crop` converts just a region through the same converter (equal to
    the full conversion's crop, tests/edge/test_on_demand_main.py). Thread-safe: the
    frame loop, the snapshot thread and the evidence renderer may all ask.
    """

    __slots__ = ("_bgr", "_lock", "_vf", "height", "width")

    def __init__(self, vf) -> None:  # vf: av.VideoFrame (software, planar YUV)
        self.width, self.height = int(vf.width), int(vf.height)
        self._vf = vf
        self._bgr: np.ndarray | None = None
        self._lock = threading.Lock()

    def bgr(self) -> np.ndarray:
        with self._lock:
            if self._bgr is None:
                self._bgr = self._vf.to_ndarray(format="bgr24")
            return self._bgr

    def crop(self, x: int, y: int, w: int, h: int) -> np.ndarray:
        import av

        with self._lock:
            if self._bgr is not None:
                return self._bgr[y : y + h, x : x + w]
            vf = self._vf
            # Even bounds: yuv420p's chroma is shared by 2x2 pixels, so the region's
            # conversion sees exactly the samples the full frame's does.
            x0, y0 = max(0, x - x % 2), max(0, y - y % 2)
            x1 = min(self.width, x + w + (x + w) % 2)
            y1 = min(self.height, y + h + (y + h) % 2)
            part = av.VideoFrame(x1 - x0, y1 - y0, vf.format.name)
            part.color_range, part.colorspace = vf.color_range, vf.colorspace
            for i, (src, dst) in enumerate(zip(vf.planes, part.planes, strict=True)):
                div = 1 if i == 0 else 2
                a = np.frombuffer(src, np.uint8).reshape(-1, src.line_size)
                b = np.frombuffer(dst, np.uint8).reshape(-1, dst.line_size)
                b[: dst.height, : dst.width] = a[
                    y0 // div : y0 // div + dst.height, x0 // div : x0 // div + dst.width
                ]
            out = part.to_ndarray(format="bgr24")
        return out[y - y0 : y - y0 + h, x - x0 : x - x0 + w]

    def luma(self) -> np.ndarray:
        """The Y plane (a view, no conversion), for exact-equality checks (the decoder's
        frame is kept after :meth:`bgr`, so this is the same before and after)."""
        p = self._vf.planes[0]
        return np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[: self.height, : self.width]


# Planar 8-bit YUV with 2x2 chroma: the layout OnDemandMain.crop copies. Anything else
# (a camera sending yuv422p, a hardware decoder's nv12) is converted on every frame.
_ON_DEMAND_FORMATS = frozenset({"yuv420p", "yuvj420p"})


@dataclass(frozen=True, slots=True)
class _Decoded:
    index: int  # frame number in the stream, counting the frames ``keep`` left out
    t: float  # seconds: presentation time (file) or the gateway clock (live)
    image: np.ndarray | None  # BGR; None when ``main`` holds it unconverted
    small: np.ndarray | None = None  # the decoder's downscale, when asked for
    main: OnDemandMain | None = None

    def frame(self, index: int, t: float, **kw) -> Frame:
        return Frame(index, t, self.image, main=self.main, **kw)


def open_container(source: str | int, hwaccel: str, what: str, timeout_s: float = 5.0):
    """``av.open`` with ``hwaccel`` (or software), returning ``(container, used)``; logs
    one line naming the decoder used and why a requested device was not."""
    import av
    from av.codec.hwaccel import HWAccel, hwdevices_available

    url = str(source)
    live = is_live_source(source)
    options = {"rtsp_transport": "tcp"} if url.startswith("rtsp") else {}
    if live:
        options.update(_LIVE_PROBE)
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
    on_demand: bool = False,
) -> Iterator[_Decoded]:
    """Decoded frames of ``container``'s first video stream as :class:`_Decoded`.

    ``keep(t)`` decides before the BGR conversion whether a frame is wanted at all (the
    analysis rate): a 25 fps stream analysed at 10 fps then converts 10 frames a second,
    not 25 (OpenCV's file source likewise only *grabs* the frames it skips). With
    ``on_demand`` (sub-stream mode) a frame is not converted at all until asked for
    (:class:`OnDemandMain`)."""
    stream = container.streams.video[0]
    # No thread_type="AUTO": FFmpeg's frame threads oversubscribe the 2-core gateway; the
    # whole decode runs on one prefetch thread instead (:class:`_Prefetch`).
    for index, vf in enumerate(container.decode(stream)):
        t = clock.now() if clock is not None else float(vf.time or 0.0)
        if keep is not None and not keep(t):
            continue
        if on_demand and small_wh is None and vf.format.name in _ON_DEMAND_FORMATS:
            yield _Decoded(index, t, None, main=OnDemandMain(vf))
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
    time to a main frame, if within ``max_skew_s``.

    Live (``now`` given: the clock the frames are timed on), the sub frame of a main
    frame's moment often arrives a few ms *after* the main one (its own socket, decoder
    and thread), so :meth:`pair` waits for it — until a sub frame at or after ``t`` is
    there (none later can be nearer) or ``now() >= t + max_skew_s`` (none later can be
    within the skew), so never more than ``max_skew_s`` past the main frame's arrival,
    and not at all while the sub stream is down (its reader disconnected, or no frame
    for ``dead_after_s``, 2 s: a loaded gateway can starve its reader for 1 s). Files
    (``now`` None) never wait: their reader adds the sub frames up to past ``t`` first.

    Health: :meth:`check` says when the sub stream is down or most recent main frames
    found no sub frame; a lost sub stream is logged once (warning) and its return once.
    """

    def __init__(
        self,
        max_skew_s: float,
        keep_s: float = 2.0,
        *,
        now: Callable[[], float] | None = None,
        wait: bool = True,
        dead_after_s: float = 2.0,
        startup_s: float = 5.0,
        name: str = "camera",
    ) -> None:
        self.max_skew_s = max_skew_s
        self.keep_s = keep_s
        self.dead_after_s = dead_after_s
        self.startup_s = startup_s  # a sub stream not there yet counts as down after this
        self.name = name
        self._started: float | None = None  # first pair() call (live)
        self._last_pair: float | None = None  # the latest pair() call (live)
        self._now = now
        self._wait = wait and now is not None
        self._frames: collections.deque[tuple[float, np.ndarray]] = collections.deque()
        self._cond = threading.Condition()
        self._connected = now is None  # a file's sub stream is there from the start
        self._connected_at: float | None = None  # the reader's latest (re)connect
        self._last_add: float | None = None  # arrival (``now``) of the newest sub frame
        self._lost_since: float | None = None  # pair() saw the sub stream down since then
        self._logged_down = False
        self._sizes: set[tuple[int, int]] = set()
        self._aspects_seen: set[tuple[tuple[int, int], tuple[int, int]]] = set()
        self._recent: collections.deque[bool] = collections.deque(maxlen=100)
        self.paired = 0
        self.unpaired = 0
        self.unpaired_down = 0  # ... of them while the sub stream was down
        self.waited = 0  # pair() calls that waited
        self.waited_s = 0.0  # their total wait

    # --- the sub reader's side ---------------------------------------------------------

    def add(self, t: float, image: np.ndarray) -> None:
        size = (image.shape[1], image.shape[0])
        with self._cond:
            self._frames.append((t, image))
            while self._frames and self._frames[0][0] < t - self.keep_s:
                self._frames.popleft()
            self._last_add = self._now() if self._now is not None else t
            self._connected = True
            new_size = size not in self._sizes
            self._sizes.add(size)
            self._cond.notify_all()
        if new_size and len(self._sizes) > 1:
            log.info("camera %s detect stream: frames now %dx%d", self.name, *size)

    def connected(self, up: bool) -> None:
        """The sub reader's connection state (live); down wakes any waiting :meth:`pair`."""
        with self._cond:
            self._connected = up
            self._connected_at = self._now() if up and self._now is not None else None
            if not up:
                self._frames.clear()  # a reconnect's frames are timed afresh
            self._cond.notify_all()

    def newest_t(self) -> float | None:
        with self._cond:
            return self._frames[-1][0] if self._frames else None

    # --- the main stream's side --------------------------------------------------------

    def _alive(self, now: float) -> bool:
        if self._now is None:
            return True
        return (
            self._connected
            and self._last_add is not None
            and now - self._last_add <= self.dead_after_s
        )

    def _down(self, now: float) -> bool:
        """Down for health and the log: not alive, past the start-up grace."""
        if self._now is None or self._alive(now):
            return False
        c = self._connected_at
        if self._connected and c is not None and now - c <= _WARMUP_S + self.dead_after_s:
            return False  # just (re)connected: its first frames are on their way
        if self._started is None:
            self._started = now
        return now - max(self._started, self._last_add or self._started) > max(
            self.dead_after_s, self.startup_s if self._last_add is None else 0.0
        )

    def pair(self, t: float, main_wh: tuple[int, int] | None = None) -> np.ndarray | None:
        """The sub image of ``t``'s moment, or None. ``main_wh``: the main frame's size,
        to say once per size pair when the sub stream has another aspect."""
        waited = 0.0
        with self._cond:
            now = self._now() if self._now is not None else t
            if self._started is None:
                self._started = now
            self._last_pair = now
            alive = self._alive(now)
            if self._wait and alive:
                start = now
                while not (self._frames and self._frames[-1][0] >= t):
                    left = t + self.max_skew_s - now
                    if left <= 0 or not self._alive(now):
                        break
                    self._cond.wait(left)
                    now = self._now()  # type: ignore[misc]
                waited = now - start
                alive = self._alive(now)
            best = min(self._frames, key=lambda f: abs(f[0] - t), default=None)
            ok = best is not None and abs(best[0] - t) <= self.max_skew_s + 1e-9
            if waited > 0:
                self.waited += 1
                self.waited_s += waited
            self._recent.append(ok)
            if ok:
                self.paired += 1
            else:
                self.unpaired += 1
                if not alive:
                    self.unpaired_down += 1
            down = self._down(now)
            went_down = down and self._lost_since is None
            came_back = alive and self._lost_since is not None
            if went_down:
                self._lost_since = now
            elif came_back:
                self._lost_since = None
        if went_down and not self._logged_down and self._now is not None:
            self._logged_down = True
            log.warning(
                "camera %s detect stream: no sub-stream frame %s; detecting on the main "
                "image until it is back",
                self.name,
                "yet" if self._last_add is None else f"for {self.dead_after_s:g} s",
            )
        elif came_back and self._logged_down:
            self._logged_down = False
            log.info("camera %s detect stream: sub stream back; pairing again", self.name)
        if not ok:
            return None
        image = best[1]  # type: ignore[index]
        if main_wh is not None:
            self._check_aspect(main_wh, (image.shape[1], image.shape[0]))
        return image

    def _check_aspect(self, main_wh: tuple[int, int], sub_wh: tuple[int, int]) -> None:
        key = (main_wh, sub_wh)
        if key in self._aspects_seen:
            return
        self._aspects_seen.add(key)
        a_main, a_sub = main_wh[0] / main_wh[1], sub_wh[0] / sub_wh[1]
        if abs(a_sub - a_main) > 0.02 * a_main:
            log.warning(
                "camera %s detect stream: %dx%d has another aspect than the main %dx%d; "
                "boxes are mapped by scaling each axis (right only if the sub stream shows "
                "the whole picture)",
                self.name,
                *sub_wh,
                *main_wh,
            )

    def check(self) -> str | None:
        """Why the detect stream is not doing its job now (None: it is), for health."""
        with self._cond:
            if self._now is None:
                return None
            now = self._now()
            recent = list(self._recent)
            if self._last_pair is None or now - self._last_pair > self.dead_after_s:
                return None  # no main frames either: the camera's own health says so
            if self._down(now):
                since = self._last_add
                gone = " (no frame yet)" if since is None else f" for {now - since:.0f} s"
                return f"sub stream down{gone}: detecting on the main image"
            if not self._alive(now):
                return None  # starting up: not down yet
            if len(recent) >= 20 and sum(recent) < len(recent) / 2:
                return (
                    f"only {sum(recent)} of the last {len(recent)} main frames had a sub "
                    f"frame within max_skew_s {self.max_skew_s:g} s: detecting on the main image"
                )
            return None


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
        pair_wait: bool = True,  # False: pair with what is there (bench baseline)
        on_demand_main: bool = True,
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
        self.hwaccel = hwaccel
        self.clock = clock or AnchoredClock()
        self.pairer = SubStreamPairer(
            max_skew_s,
            now=self.clock.now if self.live else None,
            wait=pair_wait,
            startup_s=read_timeout_s,
            name=camera_id,
        )
        self.wall0 = wall0
        self.max_backoff_s = max_backoff_s
        self.read_timeout_s = read_timeout_s
        # Sub-stream mode: main frames converted to BGR only when needed (OnDemandMain);
        # False converts every frame, as before (the bench's and tests' baseline).
        self.on_demand_main = on_demand_main
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

    def _on_demand(self, sub_stream: bool) -> bool:
        # Software decode only: a hardware decoder's surfaces come from a fixed pool,
        # which frames held unconverted (evidence buffer) would exhaust.
        return self.on_demand_main and sub_stream and self.decoder_used == "software"

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
            on_demand = self._on_demand(sub_c is not None)
            main_pf = _Prefetch(
                _decode(main, None, small_wh, keep=self._rate(), on_demand=on_demand),
                f"decode-{self.camera_id}",
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
                yield d.frame(index, t, wall=wall, detect=detect)
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
        backoff, index, segment = 1.0, 0, -1
        what = f"camera {self.camera_id} main stream"
        keep = live_rate(self.analysis_fps)

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
            base, opened = index, self.clock.now()
            cc = c.streams.video[0].codec_context
            main_wh = (cc.width, cc.height) if cc.width and cc.height else None
            # Decoded on its own thread: each frame's time is taken when it arrives,
            # not when the pipeline gets round to it (the sub stream's are, on its
            # thread: pairing compares the two), and a slow pipeline gets the newest.
            small_wh = None if self.detect_source is not None else self._small_wh(c)
            on_demand = self._on_demand(self.detect_source is not None)
            pf = _Prefetch(
                _decode(c, self.clock, small_wh, keep=keep, on_demand=on_demand),
                f"decode-{self.camera_id}",
                drop_oldest=True,
            )
            try:
                for d in pf:
                    if self._stopped:
                        break
                    self.up = True
                    index = base + d.index + 1
                    if sub_thread is None:
                        detect = d.small
                    elif d.t - opened < _WARMUP_S:
                        detect = None  # the open's backlog: arrival is not its moment
                    else:
                        detect = self.pairer.pair(d.t, main_wh)
                    wall = self.clock.wall_of(d.t)
                    yield d.frame(index, d.t, wall=wall, segment=segment, detect=detect)
                log.warning("%s ended; reconnecting", what)
            except Exception as e:  # a dropped stream: reconnect, never raise
                log.warning("%s dropped (%s); reconnecting", what, e)
            finally:
                self.up = False
                pf.close()
                c.close()
        self._log_pairing()

    def _read_sub(self) -> None:
        """Keep the newest sub-stream frames (gateway clock) for pairing; reconnects.

        Its failures are logged at info: the pairer says once, as a warning, that the
        sub stream is gone and the main image is detected on (a dead sub stream's
        reconnect attempts would otherwise warn every back-off)."""
        backoff = 1.0
        what = f"camera {self.camera_id} detect stream"
        while not self._stopped:
            try:
                c, _ = open_container(self.detect_source, self.hwaccel, what, self.read_timeout_s)  # type: ignore[arg-type]
            except CaptureError as e:
                log.info("%s; retrying in %.0f s", e, backoff)
                self._sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            backoff, opened = 1.0, self.clock.now()
            self.pairer.connected(True)
            try:
                for d in _decode(c, self.clock, None):
                    if self._stopped:
                        break
                    if d.t - opened >= _WARMUP_S:  # the open's backlog arrives at once
                        self.pairer.add(d.t, d.image)
                log.info("%s ended; reconnecting", what)
            except Exception as e:
                log.info("%s dropped (%s); reconnecting", what, e)
            finally:
                self.pairer.connected(False)
                c.close()
            self._sleep(min(backoff, 0.5))  # a stream that opens and ends at once: no spin

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
