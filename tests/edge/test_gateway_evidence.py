"""The gateway renders evidence on a camera's evidence thread, never on its frame loop,
and reports a file done only once every event has reached the sink."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import yaml

from edge.config import load_camera_config
from edge.gateway import CameraWorker
from jaywatch import wire
from tests.edge.faces.helpers import REPO
from tests.integration.helpers import wait_until

SCENE = REPO / "sample_media" / "faces" / "scene"


def test_rendering_runs_beside_the_frame_loop(tmp_path: Path) -> None:
    data = yaml.safe_load((SCENE / "camera.yaml").read_text())
    data |= {"source": str(SCENE / "video.mp4"), "faces": {"enabled": False}}
    (tmp_path / "cam.yaml").write_text(yaml.safe_dump(data))
    cfg = load_camera_config(tmp_path / "cam.yaml")
    events: list[wire.ViolationEvent] = []
    worker = CameraWorker(cfg, "gw-1", events.append)
    threads, frames_during_render = [], []
    real_render = worker.renderer.render

    def slow_render(v, wall_of):
        threads.append(threading.current_thread().name)
        before = worker.status.last_frame
        time.sleep(1.5)  # a slow gateway CPU: the frame loop must not wait for this
        frames_during_render.append(worker.status.last_frame != before)
        return real_render(v, wall_of)

    worker.renderer.render = slow_render  # type: ignore[method-assign]
    worker.start()
    try:
        wait_until(lambda: worker.status.finished, 240, "face scene processed")
    finally:
        worker.stop()
    assert threads == ["evidence-face-scene"] * 2
    assert frames_during_render[0], "the frame loop stood still while evidence was rendered"
    # "finished" waited for the evidence thread: both events are there, with their clips.
    assert sorted(e.frame for e in events) == [62, 123]
    assert all(e.clip is not None and len(e.evidence) == 3 for e in events)
