"""Several cameras on one gateway through ``jaywatch edge run`` (a child process):
one shared detector pool and one thread plan, real mosquitto with TLS and the shipped ACL,
central's real ingest into SQLite / PostgreSQL.

Each camera's stored events are scored against *its own* scene's ground truth
(precision and recall ≥ 0.9), so a box or a violation that reached the wrong camera
fails; the gateway logs one thread plan and opens the shared model once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge.evaluation import score_scene
from tests.integration.helpers import (
    SCENES,
    Central,
    camera_yaml,
    gateway_yaml,
    secure_broker,
    start_edge,
)

pytestmark = [pytest.mark.broker, pytest.mark.slow]

CAMERAS = {"vtest-road": "vtest_road", "synthetic-rules": "synthetic_rules"}


@pytest.mark.timeout(600)
def test_two_cameras_share_one_detector_and_keep_their_own_violations(
    make_broker, tmp_path: Path, db_url: str
) -> None:
    from jaywatch import wire

    broker = secure_broker(make_broker, tls=True)
    key = wire.generate_device_key()
    central = Central.create(db_url, tmp_path / "central", broker)
    central.register("gw-a", key, list(CAMERAS))
    central.start()
    cams = [
        camera_yaml(scene, tmp_path / f"{cid}.yaml", evidence={"clip": False})
        for cid, scene in CAMERAS.items()
    ]
    cfg = gateway_yaml(
        tmp_path / "gw", "gw-a", broker, cams, key, detector_pool={"workers": 1, "max_batch": 4}
    )
    log = tmp_path / "edge.log"
    proc = start_edge(cfg, log, "--exit-when-done", "--drain-s", "60")
    try:
        deadline = time.monotonic() + 500
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert proc.wait(5) == 0, log.read_text()[-3000:]
        text = log.read_text()
        plans = [ln for ln in text.splitlines() if "thread plan:" in ln]
        assert len(plans) == 1 and "2 camera(s)" in plans[0] and "1 worker(s)" in plans[0]
        assert text.count("opened once for every camera") == 1
        events = central.events()
        assert {e.camera_id for e in events} == set(CAMERAS)
        for cid, scene in CAMERAS.items():
            mine = [e for e in events if e.camera_id == cid]
            reported = []
            for e in mine:
                x1, _y1, x2, y2 = e.payload["bbox"]
                reported.append({"t": e.payload["t"], "foot": [(x1 + x2) / 2, y2]})
            score = score_scene(SCENES / scene / "ground_truth.json", reported)
            assert score.precision >= 0.9 and score.recall >= 0.9, (cid, score)
    finally:
        if proc.poll() is None:
            proc.kill()
        central.close()
