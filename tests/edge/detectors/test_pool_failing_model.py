"""Two cameras of one gateway share a detector pool and a user's model that raises at
inference on some images (tests/edge/detectors/yolo_graphs.py ``failing_yolo``: it fails
when the network input's mean is above 0.5; synthetic_rules' frames are, vtest_road's
are not; ``region: full`` so the model sees whole frames). The gateway's camera workers
run both scene videos through the pool:

* the camera whose frames break the model keeps running (no restart, nothing hangs),
  and its health says its detector is failing, with onnxruntime's reason;
* the other camera, sharing the same model session and pool workers, detects on every
  frame and reports no error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.config import load_camera_config
from edge.detectors.pool import DetectorPool
from edge.gateway import CameraWorker
from edge.thread_plan import ThreadPlan
from tests.edge.detectors.yolo_graphs import failing_yolo

SCENES = Path(__file__).resolve().parents[3] / "sample_media" / "scenes"


def worker(scene: str, model: Path, pool: DetectorPool) -> CameraWorker:
    cfg = load_camera_config(SCENES / scene / "camera.yaml")
    cfg = cfg.model_copy(
        update={
            "source": str(SCENES / scene / "video.mp4"),
            "detector": cfg.detector.model_copy(
                update={"model": str(model), "layout": "yolo", "region": "full"}
            ),
        }
    )
    return CameraWorker(cfg, "gw-1", sink=lambda e: None, detector_pool=pool)


def test_a_model_failing_on_one_cameras_frames_fails_that_camera_only(tmp_path: Path) -> None:
    head = np.zeros((1, 300, 6), np.float32)
    head[0, 0] = [100, 80, 140, 160, 0.9, 0]
    model = failing_yolo(tmp_path / "fails.onnx", head, fail_above_mean=0.5)
    plan = ThreadPlan(
        cores=2,
        cameras=2,
        workers=2,
        intra_op_threads=1,
        inter_op_threads=1,
        max_batch=8,
        opencv_threads=1,
    )
    pool = DetectorPool(plan)
    bad, good = worker("synthetic_rules", model, pool), worker("vtest_road", model, pool)
    try:
        bad.start()
        good.start()
        bad.join(240)
        good.join(240)
        assert bad.status.finished and good.status.finished  # neither hung nor crashed
        assert len(pool._backends) == 1  # one session served both cameras
        bp, gp = bad._pipeline, good._pipeline
        assert bp.detector_failures.failed > 10 and bp.detector_failures.ok == 0
        assert gp.detector_failures.failed == 0 and gp.stats.detector_runs > 10
        err = bad.health().error
        assert err.startswith("detector failing (every frame for the last "), err
        assert "Gather" in err
        assert bad.status.fps == 0.0
        assert good.health().error == ""
    finally:
        bad.stop()
        good.stop()
        pool.close()
