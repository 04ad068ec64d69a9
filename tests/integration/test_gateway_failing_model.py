"""A user's model that raises at inference on one camera's frames, through the real
``jaywatch edge run`` with a gateway of two cameras sharing one detector pool, and the
retained heartbeat read from mosquitto (shipped ACL) as central reads it.

The model (tests/edge/detectors/yolo_graphs.py ``failing_yolo``) fails when the network
input's mean is above 0.5: every synthetic_rules frame, no vtest_road frame. The gateway
keeps running; the heartbeat says synthetic-rules' detector is failing (with
onnxruntime's reason) and shows vtest-road analysing frames with no error. The snapshot
thread's detector run fails on those frames too: one log line, no snapshot, no traceback.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
import pytest

from edge.capture import VideoFileSource
from jaywatch import wire
from tests.edge.detectors.yolo_graphs import failing_yolo
from tests.integration.helpers import (
    SCENES,
    StatusWatcher,
    camera_yaml,
    gateway_yaml,
    secure_broker,
    start_edge,
)
from tests.mjpeg_server import MjpegServer

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_edge_run_reports_the_failing_cameras_detector_and_keeps_the_other(
    make_broker, tmp_path: Path
) -> None:
    broker = secure_broker(make_broker, tls=False)
    head = np.zeros((1, 300, 6), np.float32)
    head[0, 0] = [100, 80, 140, 160, 0.9, 0]
    model = failing_yolo(tmp_path / "fails.onnx", head, fail_above_mean=0.5)
    det = {"model": str(model), "layout": "yolo", "region": "full"}
    servers = {  # live cameras (a file source finishes too soon to show fps)
        scene: MjpegServer([scene_frames(scene, 300)], fps=10)
        for scene in ("synthetic_rules", "vtest_road")
    }
    cams = [
        camera_yaml(scene, tmp_path / f"{scene}.yaml", detector=det, source=srv.url, fps=5.0)
        for scene, srv in servers.items()
    ]
    # Snapshots every 5 s (the least allowed): their anonymising detector run fails too,
    # and must say so in one line, not a traceback (it raced the first round before).
    cfg = gateway_yaml(
        tmp_path / "gw",
        "gw-a",
        broker,
        cams,
        wire.generate_device_key(),
        health={"snapshot_interval_s": 5},
    )
    watcher = StatusWatcher(broker, "gw-a")
    log = tmp_path / "edge.log"
    proc = start_edge(cfg, log)
    try:
        found: dict[str, wire.CameraHealth] = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            st = watcher.latest()
            if st is not None and st.online and len(st.cameras) == 2:
                by_id = {c.camera_id: c for c in st.cameras}
                bad, good = by_id["synthetic-rules"], by_id["vtest-road"]
                if "detector failing" in bad.error and good.up and good.fps > 0:
                    found = by_id
                    break
            time.sleep(0.2)
        assert proc.poll() is None, log.read_text()[-3000:]
        assert found, (watcher.latest(), log.read_text()[-3000:])
        bad, good = found["synthetic-rules"], found["vtest-road"]
        assert "Gather" in bad.error and bad.fps == 0.0, bad
        assert good.error == "", good
        snap_failed = "camera synthetic-rules: snapshot not anonymised (detector failed: "
        while time.monotonic() < deadline and snap_failed not in log.read_text():
            time.sleep(0.2)
        text = log.read_text()
        assert snap_failed in text, text[-3000:]
        assert "Traceback" not in text and "worker failed" not in text, text[-3000:]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except Exception:
                proc.kill()
        watcher.close()
        for srv in servers.values():
            srv.close()


def scene_frames(scene: str, n: int) -> list[np.ndarray]:
    out = []
    for f in VideoFileSource(SCENES / scene / "video.mp4"):
        out.append(f.image)
        if len(out) == n:
            break
    return out
