"""The real ``jaywatch central serve`` for front-door tests: config/central.example.yaml with
its paths, broker and ``http`` section pointed at the test's own, run as a child process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from jaywatch_app.cli import main
from tests.services import Broker, example_payments, free_port

REPO = Path(__file__).resolve().parents[3]
PASSWORD = "correct horse battery"


def example_config(
    tmp: Path, db_url: str, broker: Broker, http: dict[str, Any], client_id: str = "central-fd"
) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "central.example.yaml").read_text())
    cfg["database_url"] = db_url
    cfg["evidence_dir"] = str(tmp / "evidence")
    cfg["fines_file"] = str(REPO / "config" / "fines.yaml")
    cfg["mqtt"].update(host=broker.host, port=broker.port, client_id=client_id)
    cfg["http"] = {**cfg.get("http", {}), **http}
    example_payments(cfg, tmp)
    path = tmp / f"central-{client_id}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def add_user(cfg: Path, username: str, role: str) -> None:
    os.environ["JAYWATCH_PASSWORD"] = PASSWORD
    try:
        assert main(["central", "--config", str(cfg), "user", "add", username, "--role", role]) == 0
    finally:
        del os.environ["JAYWATCH_PASSWORD"]


@dataclass
class Serve:
    """``jaywatch central serve`` on a free port; ``extra``: e.g. ``["--no-ingest"]``."""

    cfg: Path
    log: Path
    extra: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Serve:
        argv = [sys.executable, "-m", "jaywatch_app.cli", "central", "--config", str(self.cfg)]
        self.proc = subprocess.Popen(
            [*argv, "serve", "--port", str(self.port), *self.extra],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"central serve exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/api/health", timeout=2).status_code in (200, 503):
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"central serve did not answer: {self.log.read_text()[-3000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def rss(self) -> int:
        import psutil

        assert self.proc is not None
        return psutil.Process(self.proc.pid).memory_info().rss


@dataclass
class StreamResult:
    status: int | None  # None: no answer was read
    body: bytes
    sent: int  # bytes of body the client got out before the server answered or closed
    seconds: float


def stream_chunked(
    url: str, path: str, total: int, headers: dict[str, str], chunk: int = 256 * 1024
) -> StreamResult:
    """POST ``total`` bytes as a chunked body on a raw socket, reading between chunks, so
    a server that answers early (and closes) is seen: httpx would write the whole body
    first. Gives up sending at ``total``; the caller asserts on what came back."""
    host, port = url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=30)
    s.setblocking(True)
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Transfer-Encoding: chunked"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    piece = f"{chunk:x}\r\n".encode() + b"a" * chunk + b"\r\n"
    got = b""
    sent = 0
    t0 = time.monotonic()
    try:
        while sent < total:
            s.settimeout(0)
            try:
                data = s.recv(65536)
                if not data:
                    break
                got += data
                break
            except BlockingIOError:
                pass
            s.settimeout(30)
            try:
                s.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += chunk
        else:
            s.sendall(b"0\r\n\r\n")
        s.settimeout(10)
        while True:
            try:
                data = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            got += data
    finally:
        s.close()
    seconds = time.monotonic() - t0
    if not got:
        return StreamResult(None, b"", sent, seconds)
    status = int(got.split(b" ", 2)[1])
    body = got.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in got else b""
    return StreamResult(status, body, sent, seconds)
