"""``jaywatch edge calibrate``: a small local page to set a camera's zone and signal ROI.

The installer opens the printed URL (loopback by default; a random token in the URL is
the only key: every request without it gets 403), sees the live frame, clicks the
carriageway polygon's corners, drags the signal head's rectangle and watches the phase
the colour rule reads inside it. Saving rewrites the camera YAML in place — comments,
key order and every other key kept (ruamel.yaml round trip) — after validating the
result as a camera config, and stores the frame shown as the reference for the
"view moved" health check (``health.reference``).
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from edge.capture import CaptureError, LiveSource, VideoFileSource, is_live_source
from edge.config import CameraConfig, ConfigError, SignalConfig, load_camera_config
from edge.frame_geometry import geometry_problems

log = logging.getLogger(__name__)

PAGE = Path(__file__).with_name("page.html")
MAX_BODY = 64 * 1024
MAX_POINTS = 64  # wire.ViolationEvent.zone allows no more


class CalibrateError(Exception):
    """One line for the installer; exit status 2."""


class FrameGrabber:
    """Reads the source in a thread and keeps the newest frame; a file is looped so the
    page stays live. Reads the signal in the working ROI as the page moves it."""

    def __init__(self, source: str | int, fps: float | None, signal: SignalConfig) -> None:
        self.source = source
        self.fps = fps
        self._signal_cfg = signal
        self._lock = threading.Lock()
        self._frame: np.ndarray | None = None
        self._jpeg: bytes | None = None
        self._reader: Any = None
        self._roi: tuple[int, int, int, int] | None = None
        self.phase = "unknown"
        self.error = ""
        self._stop = threading.Event()
        self._live: LiveSource | None = None
        self._thread = threading.Thread(target=self._run, name="calibrate-source", daemon=True)

    def start(self) -> FrameGrabber:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._live is not None:
            self._live.stop()

    def wait_first(self, timeout: float) -> np.ndarray:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._frame is not None:
                    return self._frame
            if self.error:
                raise CalibrateError(self.error)
            time.sleep(0.05)
        raise CalibrateError(f"{self.source}: no frame within {timeout:g} s")

    def latest(self) -> tuple[np.ndarray | None, bytes | None]:
        with self._lock:
            return self._frame, self._jpeg

    def set_roi(self, roi: tuple[int, int, int, int] | None) -> None:
        from edge.signal.roi import RoiColourReader

        with self._lock:
            if roi == self._roi:
                return
            self._roi = roi
            self.phase = "unknown"
            self._reader = (
                None
                if roi is None
                else RoiColourReader(self._signal_cfg.model_copy(update={"roi": roi}))
            )

    def _frames(self):
        if is_live_source(self.source):
            self._live = LiveSource(self.source, self.fps)
            for f in self._live:
                yield f.t, f.image
            return
        while not self._stop.is_set():  # loop the file: the page shows a "live" view
            t_off = 0.0
            src = VideoFileSource(Path(str(self.source)), self.fps)
            step = 1.0 / (self.fps or src.fps)
            last = 0.0
            for f in src:
                if self._stop.is_set():
                    return
                time.sleep(step)  # real time, so the phase reading changes as it would
                last = f.t
                yield f.t + t_off, f.image
            t_off += last + step

    def _run(self) -> None:
        t_base = 0.0
        try:
            for t, image in self._frames():
                t = max(t, t_base)  # a looped file restarts its clock: keep it monotonic
                t_base = t
                ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
                with self._lock:
                    self._frame, self._jpeg = image, buf.tobytes() if ok else self._jpeg
                    reader = self._reader
                if reader is not None:
                    try:
                        self.phase = str(reader.update(image, t).state)
                    except (ConfigError, ValueError):  # ROI outside this frame
                        self.phase = "unknown"
        except CaptureError as e:
            self.error = str(e)
        except Exception as e:  # shown on the page and in the log; never a dead page
            log.exception("calibrate: reading %s failed", self.source)
            self.error = f"{type(e).__name__}: {e}"


@dataclass
class Calibration:
    """The camera being calibrated: its YAML file and what is shown of it."""

    camera_yaml: Path
    cfg: CameraConfig
    grabber: FrameGrabber

    @property
    def reference_path(self) -> Path:
        return self.camera_yaml.with_name(self.camera_yaml.stem + ".reference.png")

    def state(self) -> dict[str, Any]:
        frame, _ = self.grabber.latest()
        h, w = (frame.shape[:2]) if frame is not None else (0, 0)
        ref = self.cfg.health.reference
        return {
            "camera_id": self.cfg.id,
            "width": w,
            "height": h,
            "zone": [list(p) for p in self.cfg.crossing.zone],
            "roi": list(self.cfg.signal.roi) if self.cfg.signal.roi else None,
            "signal_source": self.cfg.signal.source,
            "phase": self.grabber.phase,
            "error": self.grabber.error,
            "reference": bool(ref is not None and Path(ref).is_file()),
            "stream": stream_note(self.cfg),
        }

    def save(self, body: Any) -> dict[str, Any]:
        """Validate ``{"zone": [[x, y], ...], "roi": [x, y, w, h]}`` against the frame,
        rewrite the YAML (atomically) and store the reference frame."""
        frame, _ = self.grabber.latest()
        if frame is None:
            raise ValueError("no frame yet: wait for the picture")
        zone, roi = _parse_geometry(body)
        h, w = frame.shape[:2]
        text = rewrite_camera_yaml(
            self.camera_yaml.read_text(encoding="utf-8"), zone, roi, self.reference_path.name
        )
        # The result must be a valid camera config that fits this frame, or nothing is written.
        try:
            cfg = CameraConfig.model_validate(_yaml_safe(text))
        except ValueError as e:
            raise ValueError(f"the saved config would be invalid: {e}") from None
        problems = geometry_problems(cfg, w, h, strict=True)
        if problems:
            raise ValueError(problems[0])
        if not cv2.imwrite(str(self.reference_path), frame):
            raise OSError(f"{self.reference_path}: could not write the reference frame")
        _atomic_write(self.camera_yaml, text)
        self.cfg = load_camera_config(self.camera_yaml)
        log.info("calibrate: saved %s and %s", self.camera_yaml, self.reference_path)
        return {"saved": str(self.camera_yaml), "reference": str(self.reference_path)}


def stream_note(cfg: CameraConfig) -> str:
    """Which stream the zone is drawn on: always the main one (the frames shown here, the
    evidence's pixels); a detect stream's boxes are mapped to it (edge/av_capture.py).
    Shown on the page and printed at start."""
    ds = cfg.detect_stream
    if ds is None:
        return "main stream (the detector sees it too)"
    seen = f"a decoder downscale to {ds.width} px wide" if ds.source is None else ds.source
    return f"main stream; the detector sees {seen}, its boxes mapped to these pixels"


def _parse_geometry(body: Any) -> tuple[list[list[int]], list[int] | None]:
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object with zone and roi")
    zone = body.get("zone")
    if not isinstance(zone, list) or not 3 <= len(zone) <= MAX_POINTS:
        raise ValueError(f"zone: expected 3 to {MAX_POINTS} [x, y] points")
    pts = []
    for i, p in enumerate(zone):
        if not (isinstance(p, list) and len(p) == 2 and all(_is_num(v) for v in p)):
            raise ValueError(f"zone[{i}]: expected [x, y] numbers")
        pts.append([round(p[0]), round(p[1])])
    return pts, _parse_roi(body.get("roi"))


def _parse_roi(roi: Any) -> list[int] | None:
    if roi is None:
        return None
    if not (isinstance(roi, list) and len(roi) == 4 and all(_is_num(v) for v in roi)):
        raise ValueError("roi: expected [x, y, w, h] numbers")
    out = [round(v) for v in roi]
    if out[0] < 0 or out[1] < 0 or out[2] <= 0 or out[3] <= 0:
        raise ValueError("roi: expected x, y >= 0 and a positive width and height")
    return out


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < 1e6


def _yaml_safe(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def rewrite_camera_yaml(
    text: str, zone: list[list[int]], roi: list[int] | None, reference: str
) -> str:
    """The camera YAML with ``crossing.zone``, ``signal.roi`` and ``health.reference``
    replaced; comments, order and all other keys kept."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    y = YAML()  # round-trip mode
    y.preserve_quotes = True
    data = y.load(text)
    if not isinstance(data, dict):
        raise ValueError("camera YAML: expected a mapping at the top level")

    def flow(values: list) -> CommentedSeq:
        s = CommentedSeq(values)
        s.fa.set_flow_style()
        return s

    def section(name: str) -> Any:
        if not isinstance(data.get(name), dict):
            data[name] = CommentedMap()
        return data[name]

    def put_seq(mapping: Any, key: str, items: list) -> None:
        old = mapping.get(key)
        if isinstance(old, CommentedSeq):
            # Refill the sequence in place: a comment after its last item (ruamel keeps
            # it on the sequence's end, e.g. one above the next key) stays; comments on
            # the old points/values no longer describe anything and go.
            old.clear()
            old.ca.items.clear()
            old.extend(items)
        else:
            mapping[key] = CommentedSeq(items)

    put_seq(section("crossing"), "zone", [flow(p) for p in zone])
    if roi is not None:
        signal = section("signal")
        put_seq(signal, "roi", roi)
        signal["roi"].fa.set_flow_style()
    section("health")["reference"] = reference
    out = io.StringIO()
    y.dump(data, out)
    return out.getvalue()


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_handler(cal: Calibration, token: str, page: bytes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "jaywatch-calibrate"

        def log_message(self, fmt: str, *args: object) -> None:
            log.debug("calibrate %s: " + fmt, self.address_string(), *args)

        def _authorised(self) -> bool:
            q = parse_qs(urlsplit(self.path).query)
            given = (q.get("token") or [""])[0]
            if secrets.compare_digest(given.encode(), token.encode()):
                return True
            self._send(HTTPStatus.FORBIDDEN, b"forbidden: wrong or missing token\n", "text/plain")
            return False

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Referrer-Policy", "no-referrer")  # the token is in the URL
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, obj: Any) -> None:
            self._send(code, json.dumps(obj).encode(), "application/json")

        def do_GET(self) -> None:
            if not self._authorised():
                return
            path = urlsplit(self.path).path
            if path == "/":
                self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
            elif path == "/frame.jpg":
                _, jpeg = cal.grabber.latest()
                if jpeg is None:
                    self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"no frame yet\n", "text/plain")
                else:
                    self._send(HTTPStatus.OK, jpeg, "image/jpeg")
            elif path == "/reference.jpg":
                ref = cal.cfg.health.reference
                img = cv2.imread(str(ref)) if ref is not None else None
                if img is None:
                    self._send(HTTPStatus.NOT_FOUND, b"no reference frame yet\n", "text/plain")
                else:
                    self._send(HTTPStatus.OK, cv2.imencode(".jpg", img)[1].tobytes(), "image/jpeg")
            elif path == "/state":
                self._json(HTTPStatus.OK, cal.state())
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

        def do_POST(self) -> None:
            if not self._authorised():
                return
            try:
                length = int(self.headers.get("Content-Length") or "0")
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"})
                return
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except (ValueError, UnicodeDecodeError):
                self._json(HTTPStatus.BAD_REQUEST, {"error": "body: not JSON"})
                return
            path = urlsplit(self.path).path
            try:
                if path == "/roi":
                    roi = _parse_roi(body)
                    cal.grabber.set_roi(tuple(roi) if roi else None)  # type: ignore[arg-type]
                    self._json(HTTPStatus.OK, {"ok": True})
                elif path == "/save":
                    self._json(HTTPStatus.OK, cal.save(body))
                else:
                    self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            except (ValueError, ConfigError) as e:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(e)})
            except OSError as e:
                self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(e)})

    return Handler


def serve_calibration(
    camera_yaml: Path,
    source: str | None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    first_timeout_s: float = 20.0,
    ready: threading.Event | None = None,
) -> int:
    """Serve until interrupted; prints the URL (with its token) on stdout."""
    from edge.camera_check import CheckError, resolve_source

    try:
        cfg = load_camera_config(camera_yaml)
        src = resolve_source(cfg, camera_yaml, source)
    except (ConfigError, CheckError) as e:
        raise CalibrateError(str(e)) from None
    if not os.access(camera_yaml, os.W_OK) or not os.access(camera_yaml.parent, os.W_OK):
        raise CalibrateError(f"{camera_yaml}: not writable (saving rewrites it in place)")
    grabber = FrameGrabber(src, cfg.fps, cfg.signal).start()
    try:
        grabber.wait_first(first_timeout_s)
        grabber.set_roi(cfg.signal.roi)
        cal = Calibration(camera_yaml, cfg, grabber)
        token = secrets.token_urlsafe(24)
        try:
            httpd = ThreadingHTTPServer((host, port), make_handler(cal, token, PAGE.read_bytes()))
        except OSError as e:
            raise CalibrateError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
        httpd.daemon_threads = True
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        url = f"http://{shown}:{httpd.server_address[1]}/?token={token}"
        print(f"calibrate camera {cfg.id}: open {url}", flush=True)
        print(f"zone and ROI are drawn on the {stream_note(cfg)}", flush=True)
        if host not in ("127.0.0.1", "localhost", "::1"):
            print(
                f"WARNING: listening on {host or 'all interfaces'}, not loopback: anyone who "
                "sees the URL can rewrite this camera's config (plain HTTP)",
                flush=True,
            )
        print("Ctrl-C to stop; saving rewrites " + str(camera_yaml), flush=True)
        if ready is not None:
            ready.set()
        try:
            httpd.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            httpd.server_close()
    finally:
        grabber.stop()
    return 0
