"""A camera's main and sub streams live on loopback, from one clock.

One pacing thread takes a sample clip's frames in real time (frame k at ``start + k/fps``)
and encodes each twice with libx264 (PyAV's wheels, nothing else installed): the main
stream (e.g. 1280x720) and the sub stream (e.g. 640x360) of the *same* frame at the same
moment, each in MPEG-TS served over TCP to whoever connects (FFmpeg's ``tcp://`` client,
which is what ``edge run`` opens), like an IP camera's two live encodings. A late joiner
starts at the next keyframe (GOP 1 s).

The sub stream can misbehave on a schedule of video times, as a careless camera does:
``sub_down`` (connections dropped, new ones closed at once), ``sub_size`` (another
resolution or aspect from then on: a new encoder, as a camera re-configured mid-stream)
and ``sub_pts_offset`` (its timestamps jump by that much: a new muxer, as after an
encoder restart; negative goes backwards).
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2


class _Fanout:
    """A TCP listener whose every client gets the bytes written from now on."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"tcp://127.0.0.1:{self.port}"
        self.accepting = True
        self.connections = 0
        self._clients: list[queue.Queue[bytes | None]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if not self.accepting:
                conn.close()  # the camera refuses: FFmpeg's open fails at once
                continue
            q: queue.Queue[bytes | None] = queue.Queue(maxsize=500)
            with self._lock:
                self._clients.append(q)
                self.connections += 1
            threading.Thread(target=self._send, args=(conn, q), daemon=True).start()

    def _send(self, conn: socket.socket, q: queue.Queue[bytes | None]) -> None:
        try:
            while (b := q.get()) is not None:
                conn.sendall(b)
        except OSError:
            pass
        finally:
            with self._lock:
                if q in self._clients:
                    self._clients.remove(q)
            conn.close()

    def write(self, b: bytes) -> int:
        with self._lock:
            clients = list(self._clients)
        for q in clients:
            try:
                q.put_nowait(bytes(b))
            except queue.Full:  # a client that stopped reading is dropped
                self.drop(q)
        return len(b)

    def drop(self, q: queue.Queue[bytes | None] | None = None) -> None:
        with self._lock:
            targets = [q] if q is not None else list(self._clients)
            for c in targets:
                if c in self._clients:
                    self._clients.remove(c)
        for c in targets:
            try:
                c.put_nowait(None)
            except queue.Full:
                while True:
                    try:
                        c.get_nowait()
                    except queue.Empty:
                        break
                c.put_nowait(None)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.accepting = False
        self.sock.close()
        self.drop()


class _Encoder:
    """One H.264 encoding in one MPEG-TS muxer writing to ``out``, its timestamps starting
    at ``ts_offset_s`` (the muxer's offset: libx264's first frame must have pts 0 here)."""

    def __init__(self, out: _Fanout, size: tuple[int, int], fps: float, ts_offset_s: float) -> None:
        self.size = size
        self.n = 0
        options = {"flush_packets": "1", "output_ts_offset": f"{ts_offset_s:.3f}"}
        self.c = av.open(out, "w", format="mpegts", options=options)
        s = self.c.add_stream("libx264", rate=round(fps))
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        g = str(max(1, round(fps)))
        s.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "23", "g": g}
        s.time_base = Fraction(1, round(fps))
        self.s = s

    def encode(self, bgr) -> None:
        img = cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA)
        vf = av.VideoFrame.from_ndarray(img, format="bgr24")
        vf.pts = self.n
        self.n += 1
        vf.time_base = self.s.time_base
        for pkt in self.s.encode(vf):
            self.c.mux(pkt)

    def close(self) -> None:
        try:
            for pkt in self.s.encode():
                self.c.mux(pkt)
            self.c.close()
        except Exception:  # a muxer closed mid-stream (size change): nothing to keep
            pass


class LivePair:
    def __init__(
        self,
        video: Path,
        *,
        fps: float = 10.0,
        main_size: tuple[int, int] = (1280, 720),
        sub_size: tuple[int, int] = (640, 360),
        end_s: float | None = None,
    ) -> None:
        self.video, self.fps, self.end_s = video, fps, end_s
        self.main_size, self.sub_size0 = main_size, sub_size
        self.main = _Fanout()
        self.sub = _Fanout()
        self._down: list[tuple[float, float]] = []
        self._sizes: list[tuple[float, tuple[int, int]]] = []
        self._offsets: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.frames_sent = 0
        self.sent_at: list[float] = []  # monotonic time each frame went out (both streams)
        self.t0_mono = 0.0
        self.done = threading.Event()
        self.error: BaseException | None = None

    # --- the sub stream's schedule (video seconds) -------------------------------------
    def sub_down(self, from_s: float, to_s: float = float("inf")) -> None:
        self._down.append((from_s, to_s))
        if from_s <= 0:
            self.sub.accepting = False  # not there when the gateway first connects

    @property
    def sub_late(self) -> bool:
        return not self._sub_state(0.0)[0]

    def sub_size(self, from_s: float, size: tuple[int, int]) -> None:
        self._sizes.append((from_s, size))

    def sub_pts_offset(self, from_s: float, offset_s: float) -> None:
        self._offsets.append((from_s, offset_s))

    def _sub_state(self, t: float) -> tuple[bool, tuple[int, int], float]:
        up = not any(a <= t < b for a, b in self._down)
        size = self.sub_size0
        for a, s in sorted(self._sizes):
            if t >= a:
                size = s
        off = 0.0
        for a, o in sorted(self._offsets):
            if t >= a:
                off = o
        return up, size, off

    # --- running -----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="live-pair", daemon=True)
        self._thread.start()

    def worst_pacing_s(self) -> float:
        """The longest time between two frames going out (1/fps when on time)."""
        d = [b - a for a, b in zip(self.sent_at, self.sent_at[1:], strict=False)]
        return max(d, default=0.0)

    def now_s(self) -> float:
        return time.monotonic() - self.t0_mono

    def _run(self) -> None:
        cap = cv2.VideoCapture(str(self.video))
        main = _Encoder(self.main, self.main_size, self.fps, 0)
        sub: _Encoder | None = None
        sub_key: tuple[tuple[int, int], float] | None = None
        self.t0_mono = time.monotonic()
        k = 0
        try:
            while not self._stop.is_set():
                t = k / self.fps
                if self.end_s is not None and t >= self.end_s:
                    break
                ok, img = cap.read()
                if not ok:
                    break
                wait = self.t0_mono + t - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                up, size, off = self._sub_state(t)
                main.encode(img)  # main first, then the sub of the same frame
                if not up:
                    if sub is not None:
                        sub.close()
                        sub, sub_key = None, None
                    self.sub.accepting = False
                    self.sub.drop()
                else:
                    self.sub.accepting = True
                    if sub_key != (size, off):
                        if sub is not None:
                            sub.close()
                        sub = _Encoder(self.sub, size, self.fps, t + off)
                        sub_key = (size, off)
                    sub.encode(img)
                k += 1
                self.frames_sent = k
                self.sent_at.append(time.monotonic())
        except BaseException as e:  # surfaced by stop()
            self.error = e
        finally:
            main.close()
            if sub is not None:
                sub.close()
            cap.release()
            # The camera goes off the air: both connections end (EOF), none accepted.
            for out in (self.main, self.sub):
                out.accepting = False
                out.drop()
            self.done.set()

    def stop_quietly(self) -> None:
        with contextlib.suppress(BaseException):
            self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self.main.close()
        self.sub.close()
        if self.error is not None:
            raise self.error
