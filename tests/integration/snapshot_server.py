"""A local HTTP(S) server for gallery snapshots: the stand-in for central's download URL.

Serves whatever bytes the test puts in ``files`` (path → bytes, changeable while running,
so a test can serve a damaged file first and the right one later) and counts requests.
HTTPS uses the throwaway CA of tests/services.py, so the edge must be given the CA file.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.services import make_test_ca


class SnapshotServer:
    def __init__(self, workdir: Path, tls: bool = False) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.cafile: Path | None = None
        files, requests = self.files, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                body = files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_a: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls:
            workdir.mkdir(parents=True, exist_ok=True)
            self.cafile = make_test_ca(workdir)
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(workdir / "server.crt", workdir / "server.key")
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.base = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def start(self) -> SnapshotServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
