"""An IP camera on loopback that replays a video file in real time as MJPEG over HTTP.

The video's clock runs from :meth:`ReplayCamera.start` whether or not anyone is
connected, like a real street: during an outage (:meth:`ReplayCamera.outage`) open
connections are dropped and new ones answered 503, and when it ends the stream resumes
at the frame the video has reached by then. ``video_t(wall)`` maps a wall-clock time
(``time.time()``) to the video time then being served, so a test can compare what the
gateway reports with the scene's ground truth.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2


class ReplayCamera:
    def __init__(self, video: Path, fps: float, *, end_s: float | None = None) -> None:
        cap = cv2.VideoCapture(str(video))
        self.jpegs: list[bytes] = []
        while True:
            ok, img = cap.read()
            if not ok:
                break
            self.jpegs.append(
                cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
            )
            if end_s is not None and len(self.jpegs) >= end_s * fps:
                break
        cap.release()
        self.fps = fps
        self.t0_wall: float | None = None
        self._t0_mono = 0.0
        self._outages: list[tuple[float, float]] = []
        self._stalls: list[tuple[float, float]] = []
        self.connections = 0
        self.connected_at: list[float] = []  # video time of each accepted connection
        cam = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not cam.serving():
                    self.send_error(503)
                    return
                cam.connections += 1
                cam.connected_at.append(cam.now_s())
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=f")
                self.end_headers()
                last = -1
                try:
                    while cam.serving():
                        i = cam.frame_now()
                        if i >= len(cam.jpegs):
                            return
                        if i != last and not cam.stalled():
                            jpg = cam.jpegs[i]
                            head = b"--f\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                            self.wfile.write(head % len(jpg) + jpg + b"\r\n")
                            last = i
                        time.sleep(0.2 / cam.fps)
                except OSError:
                    pass

            def log_message(self, *_a: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/video.mjpg"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def start(self) -> None:
        """Start the video clock (frame 0 now)."""
        self._t0_mono = time.monotonic()
        self.t0_wall = time.time()

    def outage(self, from_s: float, to_s: float) -> None:
        """No stream between these video times (connections dropped, 503)."""
        self._outages.append((from_s, to_s))

    def stall(self, from_s: float, to_s: float) -> None:
        """Connections stay open but nothing is sent between these video times."""
        self._stalls.append((from_s, to_s))

    def stalled(self) -> bool:
        t = self.now_s()
        return any(a <= t < b for a, b in self._stalls)

    def now_s(self) -> float:
        return -1.0 if self.t0_wall is None else time.monotonic() - self._t0_mono

    def frame_now(self) -> int:
        return max(0, int(self.now_s() * self.fps))

    def serving(self) -> bool:
        t = self.now_s()
        return t >= 0 and not any(a <= t < b for a, b in self._outages)

    def finished(self) -> bool:
        return self.frame_now() >= len(self.jpegs)

    def video_t(self, wall: float) -> float:
        assert self.t0_wall is not None
        return wall - self.t0_wall

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
