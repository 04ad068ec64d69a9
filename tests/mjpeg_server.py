"""A loopback MJPEG-over-HTTP camera serving given images, for streams a real camera
sends badly: each connection gets its own list (so a camera can come back at another
resolution), any size, then the connection closes; once every list was served, 404.
The same bytes a misbehaving IP camera sends, read by the real capture (OpenCV/FFmpeg).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np


class MjpegServer:
    """Serves ``connections[k]`` to the k-th connection at ``fps``, then closes it.

    ``intervals`` (seconds, cycled) replaces the steady 1/fps pause after each frame: a
    real camera's frames come jittered around its rate.
    """

    def __init__(
        self,
        connections: list[list[np.ndarray]],
        fps: float = 20.0,
        intervals: list[float] | None = None,
    ) -> None:
        self.lists = [
            [cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for im in ims]
            for ims in connections
        ]
        self.fps = fps
        self.intervals = intervals or [1.0 / fps]
        self.connections = 0
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if srv.connections >= len(srv.lists):
                    self.send_error(404)
                    return
                jpegs = srv.lists[srv.connections]
                srv.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=f")
                self.end_headers()
                try:
                    for k, jpg in enumerate(jpegs):
                        head = b"--f\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                        self.wfile.write(head % len(jpg) + jpg + b"\r\n")
                        time.sleep(srv.intervals[k % len(srv.intervals)])
                except OSError:
                    pass

            def log_message(self, *_a: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/video.mjpg"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
