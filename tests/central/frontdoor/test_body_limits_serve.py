"""Request-body limits through the real ``jaywatch central serve``: bodies far beyond a
route's limit, chunked (no Content-Length to trust), are refused with 413 while they
stream in, and the server's memory does not grow with them. A 422 never echoes input."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.central.frontdoor.serve import (
    PASSWORD,
    Serve,
    add_user,
    example_config,
    stream_chunked,
)
from tests.services import Broker

pytestmark = pytest.mark.timeout(300)
MiB = 1024 * 1024
ATTEMPT = 300 * MiB  # what the client tries to send (the finding's 300 MB login body)
GALLERY_LIMIT = 8 * MiB  # the test's own override: 512 MiB would be slow to show


def test_huge_chunked_bodies_are_refused_while_streaming(tmp_path: Path, broker: Broker) -> None:
    cfg = example_config(
        tmp_path,
        f"sqlite:///{tmp_path / 'c.db'}",
        broker,
        {"body_limits": {"/api/gallery": GALLERY_LIMIT}},
    )
    add_user(cfg, "ada", "admin")
    with Serve(cfg, tmp_path / "serve.log") as s, httpx.Client(base_url=s.url, timeout=30) as h:
        r = h.post("/api/auth/login", json={"username": "ada", "password": PASSWORD})
        assert r.status_code == 200, r.text
        token = r.json()["token"]
        cases = {
            "/api/auth/login": {"Content-Type": "application/json"},
            "/notice": {"Content-Type": "multipart/form-data; boundary=xxxxxxxx"},
            "/api/gallery": {
                "Content-Type": "application/octet-stream",
                "Authorization": f"Bearer {token}",
            },
        }
        report = {}
        for path, headers in cases.items():
            before = s.rss()
            res = stream_chunked(s.url, path, ATTEMPT, headers)
            time.sleep(0.2)
            after = s.rss()
            report[path] = {
                "status": res.status,
                "sent_mib": round(res.sent / MiB, 1),
                "seconds": round(res.seconds, 2),
                "rss_before_mib": round(before / MiB, 1),
                "rss_after_mib": round(after / MiB, 1),
            }
            assert res.status == 413, (path, res)
            assert len(res.body) < 200 and b"larger than" in res.body, res.body
            # The server stopped reading: the client could not get the whole body out.
            assert res.sent < ATTEMPT, (path, res)
            # Not buffered: memory grew by far less than what was sent at it.
            assert after - before < res.sent / 4 + 16 * MiB, report[path]
        print("\nFRONTDOOR_BODY_LIMITS", json.dumps(report))

        # A declared Content-Length over the limit is refused before any body is read.
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                + f"\r\nContent-Length: {ATTEMPT}\r\n\r\n{{}}".encode()
            )
            assert sock.recv(65536).startswith(b"HTTP/1.1 413 ")

        # The server is still healthy and serves a normal login after all this.
        assert h.get("/api/health").status_code == 200
        assert h.post("/api/auth/login", json={"username": "ada", "password": PASSWORD}).is_success


def test_a_422_never_echoes_the_input(tmp_path: Path, broker: Broker) -> None:
    cfg = example_config(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", broker, {})
    with Serve(cfg, tmp_path / "serve.log") as s, httpx.Client(base_url=s.url, timeout=30) as h:
        secret = "S3cret-" + "x" * 12_000  # over max_length, under the 16 KiB body limit
        r = h.post("/api/auth/login", json={"username": "ada", "password": secret})
        assert r.status_code == 422
        assert "S3cret" not in r.text and len(r.content) < 1000, r.text[:300]
        assert r.json()["detail"][0]["loc"] == ["body", "password"]
        # A body over the route's limit is a 413, however it is declared.
        r = h.post("/api/auth/login", json={"username": "ada", "password": "y" * 20_000})
        assert r.status_code == 413 and len(r.content) < 200
        # The appeal grounds' 5,000 characters fit the notice doors even at 4 bytes each.
        grounds = "\U0001f600" * 5000
        r = h.post(
            "/api/public/appeal",
            json={"reference": "JW-1", "code": "X", "grounds": grounds},
        )
        assert r.status_code == 403  # reached the route (wrong notice, as on the page), not a 413
        r = h.post("/notice/appeal", data={"reference": "JW-1", "code": "X", "statement": grounds})
        assert r.status_code == 403  # the page's "wrong reference or code"
