"""The gateway's shared detector pool, with the real shipped SSD on real frames.

* A batch of frames from different cameras (different sizes) gives each frame exactly
  what a single inference on it gives.
* Several cameras served at once by one pool each get their own frames' boxes (camera A's
  boxes never reach camera B), also when their requests share one batch.
* One camera's bad frame fails that camera only.
"""

from __future__ import annotations

import threading
import time
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from edge.capture import VideoFileSource
from edge.config import DetectorConfig
from edge.detectors import Detections, create_detector
from edge.detectors.pool import DetectorPool
from edge.thread_plan import ThreadPlan

SCENES = Path(__file__).resolve().parents[3] / "sample_media" / "scenes"


@cache
def frames(scene: str, n: int = 6, every: int = 20) -> tuple[np.ndarray, ...]:
    out = []
    for f in VideoFileSource(SCENES / scene / "video.mp4"):
        if f.index % every == 0:
            out.append(f.image)
        if len(out) == n:
            break
    return tuple(out)


@cache
def single() -> object:
    return create_detector(DetectorConfig(), threads=1)


def plan(workers: int = 1, max_batch: int = 8) -> ThreadPlan:
    return ThreadPlan(
        cores=2,
        cameras=3,
        workers=workers,
        intra_op_threads=1,
        inter_op_threads=1,
        max_batch=max_batch,
        opencv_threads=1,
    )


def same(a: Detections, b: Detections) -> None:
    assert len(a) == len(b)
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.05)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
    np.testing.assert_array_equal(a.class_ids, b.class_ids)


def test_batched_inference_equals_single_inference_on_real_frames() -> None:
    det = single()
    assert det.batches  # the shipped SSD's input has a free batch axis
    # Frames of three scenes: 768x576, 1920x1080, a 400x300 crop (tile-sized).
    imgs = [*frames("vtest_road")[:3], *frames("hd_crossing")[:2]]
    imgs.append(np.ascontiguousarray(frames("vtest_road")[4][100:400, 200:600]))
    batched = det.detect_batch(imgs)
    singles = [det.detect(i) for i in imgs]
    assert sum(len(d) for d in singles) >= 10  # real people were found
    for b, s in zip(batched, singles, strict=True):
        same(b, s)


def test_requests_of_several_cameras_in_one_batch_get_their_own_boxes() -> None:
    pool = DetectorPool(plan(), start=False)
    cameras = {
        "cam-a": frames("vtest_road")[1],
        "cam-b": frames("hd_crossing")[3],
        "cam-c": np.ascontiguousarray(frames("vtest_road")[1][:, ::-1]),  # mirrored
    }
    handles = {c: pool.detector_for(DetectorConfig(), c) for c in cameras}
    assert len({id(h.backend) for h in handles.values()}) == 1  # one session for all
    got: dict[str, Detections] = {}

    def ask(cam: str) -> None:
        got[cam] = handles[cam].detect(cameras[cam])

    threads = [threading.Thread(target=ask, args=(c,)) for c in cameras]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while pool._queue.qsize() < len(cameras) and time.monotonic() < deadline:
        time.sleep(0.01)
    pool.start()  # all three requests are queued: the worker serves them as one batch
    for t in threads:
        t.join(60)
    pool.close()
    assert dict(pool.batch_sizes) == {3: 1}
    for cam, img in cameras.items():
        same(got[cam], single().detect(img))
    # The mirrored camera's boxes are the mirror of camera A's, not camera A's.
    assert not np.allclose(got["cam-a"].xyxy, got["cam-c"].xyxy)


def test_cameras_running_concurrently_never_get_each_others_boxes() -> None:
    pool = DetectorPool(plan(workers=2, max_batch=4))
    scenes = {"cam-a": "vtest_road", "cam-b": "hd_crossing", "cam-c": "synthetic_rules"}
    expected = {c: [single().detect(i) for i in frames(s)] for c, s in scenes.items()}
    errors: list[str] = []

    def camera(cam: str) -> None:
        det = pool.detector_for(DetectorConfig(), cam)
        for _ in range(3):
            for k, img in enumerate(frames(scenes[cam])):
                d = det.detect(img)
                if len(d) != len(expected[cam][k]) or not np.allclose(
                    d.xyxy, expected[cam][k].xyxy, atol=0.05
                ):
                    errors.append(f"{cam} frame {k}")

    threads = [threading.Thread(target=camera, args=(c,)) for c in scenes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    pool.close()
    assert errors == []
    assert sum(pool.batch_sizes.values()) >= 1
    assert sum(n * k for n, k in pool.batch_sizes.items()) == 3 * 3 * len(frames("vtest_road"))


def test_tiles_of_one_camera_go_to_the_pool_as_one_request() -> None:
    from edge.config import TilingConfig
    from edge.detectors.region import wrap_for_region

    cfg = DetectorConfig(tiling=TilingConfig(mode="on", tile_px=300, overlap_px=100))
    zone = [(0, 300), (1900, 300), (1900, 700), (0, 700)]
    img = frames("hd_crossing")[3]
    pool = DetectorPool(plan(max_batch=64))
    pooled = wrap_for_region(pool.detector_for(cfg, "cam-hd"), cfg, zone)
    alone = wrap_for_region(single(), cfg, zone)
    a, b = pooled.detect(img), alone.detect(img)
    pool.close()
    same(a, b)
    assert len(a) >= 3
    (n,) = pool.batch_sizes  # every tile and the full pass in one inference
    assert n == pooled.plan.inferences_per_frame > 1


def test_a_bad_frame_fails_its_own_camera_only() -> None:
    pool = DetectorPool(plan(), start=False)
    good = pool.detector_for(DetectorConfig(), "cam-good")
    bad = pool.detector_for(DetectorConfig(), "cam-bad")
    out: dict[str, object] = {}

    def run(name: str, det, img) -> None:
        try:
            out[name] = det.detect(img)
        except Exception as e:
            out[name] = e

    grey = np.zeros((100, 100), np.uint8)  # not a BGR frame
    threads = [
        threading.Thread(target=run, args=("good", good, frames("vtest_road")[1])),
        threading.Thread(target=run, args=("bad", bad, grey)),
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while pool._queue.qsize() < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    pool.start()
    for t in threads:
        t.join(60)
    pool.close()
    assert isinstance(out["bad"], ValueError)
    assert isinstance(out["good"], Detections)
    same(out["good"], single().detect(frames("vtest_road")[1]))


def test_a_closed_pool_refuses_requests() -> None:
    pool = DetectorPool(plan())
    det = pool.detector_for(DetectorConfig(), "cam")
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        det.detect(frames("vtest_road")[0])
