"""Scene checks through the gateway's camera worker (real pipeline, real detector) on
synthetic streams made from the vtest_road clip: frozen, dark, covered, IR-monochrome
and shifted views raise the right flag with a reason; the untouched clip raises none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge.config import load_camera_config
from edge.gateway import CameraWorker

REPO = Path(__file__).resolve().parents[2]
SCENE = REPO / "sample_media" / "scenes" / "vtest_road"
FPS = 5.0
SECONDS = 8

# Fast checks so 8 s of video shows them; the same code runs with the defaults live.
HEALTH = {
    "frozen_after_s": 3.0,
    "check_every_s": 0.5,
    "dark_after_s": 2.0,
    "moved_every_s": 1.0,
    "moved_after_checks": 2,
}


def clip_frames(n: int, step: int = 2) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(SCENE / "video.mp4"))
    frames = []
    while len(frames) < n:
        ok, f = cap.read()
        assert ok
        frames.append(f)
        for _ in range(step - 1):
            cap.grab()
    cap.release()
    return frames


def write_video(path: Path, frames: list[np.ndarray]) -> Path:
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (w, h))
    for f in frames:
        out.write(f)
    out.release()
    return path


def shifted(f: np.ndarray, dx: int, dy: int) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(f, m, (f.shape[1], f.shape[0]), borderMode=cv2.BORDER_REPLICATE)


STREAMS: dict[str, Callable[[list[np.ndarray]], list[np.ndarray]]] = {
    "normal": lambda fs: fs,
    "frozen": lambda fs: fs[:5] + [fs[5]] * (len(fs) - 5),
    "dark": lambda fs: [(f * 0.06).astype(np.uint8) for f in fs],
    "covered": lambda fs: [
        np.clip(150 + np.random.default_rng(i).normal(0, 2, f.shape), 0, 255).astype(np.uint8)
        for i, f in enumerate(fs)
    ],
    "monochrome": lambda fs: [
        cv2.cvtColor(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR) for f in fs
    ],
    "moved": lambda fs: [shifted(f, -90, 25) for f in fs],
}


def run_worker(tmp_path: Path, name: str) -> CameraWorker:
    frames = STREAMS[name](clip_frames(int(FPS * SECONDS)))
    video = write_video(tmp_path / f"{name}.avi", frames)
    ref = tmp_path / "reference.png"
    cv2.imwrite(str(ref), clip_frames(1)[0])  # the view at calibration
    data = yaml.safe_load((SCENE / "camera.yaml").read_text())
    data.update(source=str(video), fps=FPS, health={**HEALTH, "reference": "reference.png"})
    cam = tmp_path / "camera.yaml"
    cam.write_text(yaml.safe_dump(data))
    worker = CameraWorker(load_camera_config(cam), "gw-1", sink=lambda e: None)
    worker.start()
    worker.join(120)
    assert worker.status.finished, worker.status.error
    return worker


@pytest.mark.parametrize(
    ("stream", "expect", "words"),
    [
        ("normal", set(), ""),
        ("frozen", {"frozen"}, "identical frames"),
        ("dark", {"dark"}, "mean brightness"),
        ("covered", {"covered"}, "nearly uniform"),
        ("monochrome", {"monochrome"}, "IR night mode"),
        ("moved", {"moved"}, "-90 px, +25 px"),
    ],
)
def test_synthetic_streams_raise_the_right_flags(
    tmp_path: Path, stream: str, expect: set[str], words: str
) -> None:
    worker = run_worker(tmp_path, stream)
    health = worker.health()
    assert {c.check for c in health.checks} == expect, health.checks
    for c in health.checks:
        assert words in c.reason, c.reason
        assert c.since is not None and c.since >= worker.started
    assert health.signal is not None and health.signal.source == "roi"
    if stream == "normal":
        assert worker.scene.last_overlap is not None and worker.scene.last_overlap > 0.9
        assert health.signal.phase in ("red", "green")


def test_a_small_shift_is_not_a_moved_camera(tmp_path: Path) -> None:
    """A few pixels of sway (wind, a pole warming up) keeps the zone on the carriageway."""
    STREAMS["sway"] = lambda fs: [shifted(f, 4, -3) for f in fs]
    try:
        worker = run_worker(tmp_path, "sway")
    finally:
        del STREAMS["sway"]
    assert worker.health().checks == []
    assert worker.scene.last_overlap is not None and worker.scene.last_overlap > 0.9


def test_a_dark_live_camera_raises_the_signal_alert_logged_once_and_in_metrics(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A live MJPEG camera gone dark: the signal reads no usable phase; after
    ``signal_alert_after_s`` the heartbeat carries the alert, the log says it once and
    the gateway's metrics show it."""
    import logging
    import time

    from prometheus_client import generate_latest

    from edge.health import GatewayMetrics
    from tests.integration.test_camera_faults import MjpegCamera

    dark = (clip_frames(1)[0] * 0.05).astype(np.uint8)
    cam = MjpegCamera(dark, fps=10)
    data = yaml.safe_load((SCENE / "camera.yaml").read_text())
    data.update(source=cam.url, fps=10, health={**HEALTH, "frozen_after_s": 600})
    path = tmp_path / "camera.yaml"
    path.write_text(yaml.safe_dump(data))
    worker = CameraWorker(
        load_camera_config(path), "gw-1", sink=lambda e: None, signal_alert_after_s=2.0
    )
    metrics = GatewayMetrics()
    try:
        with caplog.at_level(logging.INFO, logger="edge.camera_health"):
            worker.start()
            deadline = time.monotonic() + 60
            health = worker.health()
            while time.monotonic() < deadline:
                health = worker.health()
                if any(c.alert for c in health.checks) and "dark" in {
                    c.check for c in health.checks
                }:
                    break
                time.sleep(0.2)
            worker.health()  # a second heartbeat: not logged again
        metrics.observe_camera(health)
    finally:
        worker.stop()
        cam.stop()
    assert health.up and health.signal is not None
    assert health.signal.phase in ("dark", "unknown") and health.signal.unknown_for_s > 2.0
    alert = health.checks[0]
    assert alert.check == "signal_unknown" and alert.alert
    assert "no violation can be detected" in alert.reason and "alert after 2 s" in alert.reason
    assert [c.check for c in health.checks[1:]] == ["dark"]
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ALERT")]
    assert len(logged) == 1 and "camera vtest-road: signal" in logged[0], logged
    text = generate_latest(metrics.registry).decode()
    assert 'jaywatch_camera_signal_alert{camera="vtest-road"} 1.0' in text
    assert 'jaywatch_camera_check_failed{camera="vtest-road",check="dark"} 1.0' in text
    assert 'jaywatch_camera_check_failed{camera="vtest-road",check="moved"} 0.0' in text
