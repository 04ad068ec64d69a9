"""A loopback MJPEG-over-HTTP stream of given images, for streams a real camera sends badly.

Each image is JPEG-encoded as given (any size, grey or colour), so a test can make a
stream change resolution mid-way, send 1×1 or 8K frames, or end early: the same bytes a
misbehaving IP camera sends, read by the real capture (OpenCV/FFmpeg).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np


class MjpegServer:
    """Serves ``images`` once per connection at ``fps``, then closes the connection
    (``repeat``: serve them again on the next connection, else answer 404)."""

    def __init__(self, images: list[np.ndarray], fps: float = 20.0, repeat: bool = False):
        self.jpegs = [
            cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for im in images
        ]
        self.fps = fps
        self.repeat = repeat
        self.connections = 0
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if srv.connections and not srv.repeat:
                    self.send_error(404)
                    return
                srv.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=f")
                self.end_headers()
                try:
                    for jpg in srv.jpegs:
                        head = b"--f\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                        self.wfile.write(head % len(jpg) + jpg + b"\r\n")
                        time.sleep(1.0 / srv.fps)
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
