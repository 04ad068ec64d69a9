"""One gateway, three cameras: a garbage "video", a live MJPEG stream that drops and
returns, and the vtest_road clip. The broken ones are reported down (in the heartbeat
central stores) and retried; the stream reconnects; the good camera's violations are
stored at central all the same. Real mosquitto (passwords + ACL), real central ingest.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.evaluation import score_scene
from edge.gateway import Gateway
from edge.gateway_config import load_gateway_config
from jaywatch import wire
from tests.integration.helpers import (
    SCENES,
    Central,
    camera_yaml,
    gateway_yaml,
    secure_broker,
    stored_as_reported,
    wait_until,
)

pytestmark = [pytest.mark.broker, pytest.mark.slow]


class MjpegCamera:
    """An IP camera on loopback: multipart JPEG over HTTP at ``fps``. ``serving = False``
    drops the open connection and answers 503 until it is set again."""

    def __init__(self, frame: np.ndarray, fps: float = 10.0) -> None:
        self.serving = True
        self.connections = 0
        jpg = cv2.imencode(".jpg", frame)[1].tobytes()
        part = b"--f\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
        cam = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not cam.serving:
                    self.send_error(503)
                    return
                cam.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=f")
                self.end_headers()
                try:
                    while cam.serving:
                        self.wfile.write(part + jpg + b"\r\n")
                        time.sleep(1 / fps)
                except OSError:
                    pass

            def log_message(self, *_a: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/video.mjpg"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.serving = False
        self.httpd.shutdown()
        self.httpd.server_close()


def _camera(status: dict[str, Any] | None, camera_id: str) -> dict[str, Any]:
    if not status or not status.get("online"):
        return {}
    return next((c for c in status["cameras"] if c["camera_id"] == camera_id), {})


@pytest.mark.timeout(240)
def test_broken_cameras_are_reported_and_retried_while_another_keeps_producing(
    make_broker, tmp_path: Path
) -> None:
    broker = secure_broker(make_broker, tls=False)
    key = wire.generate_device_key()
    central = Central.create(f"sqlite:///{tmp_path}/c.db", tmp_path / "central", broker)
    central.register("gw-a", key, ["vtest-road", "cam-garbage", "cam-stream"])
    central.start()

    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(7).bytes(200_000))
    first = cv2.VideoCapture(str(SCENES / "vtest_road" / "video.mp4")).read()[1]
    stream = MjpegCamera(first)  # a still street: the motion gate spares the detector
    cams = [
        camera_yaml("vtest_road", tmp_path / "road.yaml"),
        camera_yaml("vtest_road", tmp_path / "garbage.yaml", id="cam-garbage", source=str(garbage)),
        camera_yaml("vtest_road", tmp_path / "stream.yaml", id="cam-stream", source=stream.url),
    ]
    cfg = load_gateway_config(gateway_yaml(tmp_path / "gw", "gw-a", broker, cams, key))
    gw = Gateway(cfg)
    gw.start()

    def cam(camera_id: str) -> dict[str, Any]:
        return _camera(central.device_status("gw-a"), camera_id)

    try:
        # Central sees the stream up with its frame rate and the garbage file down, named.
        wait_until(lambda: cam("cam-stream").get("fps", 0) > 0, 60, "stream camera up")
        wait_until(lambda: "garbage.mp4" in cam("cam-garbage").get("error", ""), 60, "error")
        assert cam("cam-garbage")["up"] is False

        # The stream drops and stays away: reported down while the road camera works on.
        stream.serving = False
        wait_until(lambda: cam("cam-stream").get("up") is False, 60, "stream reported down")
        assert cam("cam-stream")["fps"] == 0.0
        # ... and it comes back: the worker reconnects by itself.
        before = stream.connections
        stream.serving = True
        wait_until(lambda: cam("cam-stream").get("up") is True, 60, "stream back up")
        assert stream.connections > before

        # Meanwhile the road camera's violations reach central, each once.
        road = gw.workers[0]
        wait_until(lambda: road.status.finished, 150, "road clip processed")
        wait_until(lambda: gw.outbox.depth() == 0, 60, "outbox drained")
        reported = stored_as_reported(central)
        assert {e.camera_id for e in central.events()} == {"vtest-road"}
        score = score_scene(SCENES / "vtest_road" / "ground_truth.json", reported)
        assert score.precision >= 0.9 and score.recall >= 0.9, (score.missed, reported)
        # The garbage camera is still being retried (its worker never gave up) and never
        # took the gateway down.
        garbage_worker = gw.workers[1]
        assert garbage_worker._thread is not None and garbage_worker._thread.is_alive()
        assert not garbage_worker.status.up and "garbage.mp4" in garbage_worker.status.error
    finally:
        gw.stop()
        stream.stop()
        central.close()
