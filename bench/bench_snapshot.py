"""Cost of camera snapshots (edge/snapshot.py) and their effect on the frame loop, measured
in the same run.

1. ``make``: one anonymised thumbnail (person detector on the whole frame and its tiles,
   YuNet tiled, blur, shrink to 320 px, JPEG) of vtest_road frames at 768x576 and
   upscaled to 1280x720: wall time per snapshot and bytes.
2. ``frame_loop``: the camera pipeline (shipped SSD, tracker, rule) over the same
   pre-decoded frames, as fast as it goes, *baseline* with no snapshot thread and *with*
   a snapshot thread that makes one of the pipeline's latest frame every ``--every`` s
   (default 1 s: 60x the shipped rate, so the effect is measurable at all). Runs
   alternate (baseline, with, baseline, with, ...); reports frames/s of each and the
   ratio with/baseline, plus the duty cycle at the shipped 60 s interval.

    .venv/bin/python bench/bench_snapshot.py [--repeat N] [--every S] [--frames N]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from edge.capture import VideoFileSource
from edge.config import load_camera_config
from edge.detectors import create_detector
from edge.faces.detect import YuNetDetector
from edge.pipeline import build_pipeline
from edge.snapshot import SnapshotMaker

REPO = Path(__file__).resolve().parents[1]
SCENE = REPO / "sample_media" / "scenes" / "vtest_road"


def frame_loop(cfg, frames, maker: SnapshotMaker | None, every_s: float) -> dict:
    pipe = build_pipeline(cfg, None)
    stop = threading.Event()
    made: list[float] = []

    def snapshots() -> None:
        while not stop.wait(every_s):
            bf = pipe.buffer.latest()
            if bf is not None and maker is not None:
                t = time.perf_counter()
                maker.make(cfg.id, bf.frame.image, datetime.now(UTC), tuple(bf.boxes.values()))
                made.append(time.perf_counter() - t)

    th = threading.Thread(target=snapshots, daemon=True) if maker is not None else None
    if th is not None:
        th.start()
    t0 = time.perf_counter()
    for f in frames:
        pipe.process(f)
    dt = time.perf_counter() - t0
    stop.set()
    if th is not None:
        th.join()
    return {"fps": len(frames) / dt, "snapshots": len(made)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--every", type=float, default=1.0)
    ap.add_argument("--frames", type=int, default=200)
    a = ap.parse_args()
    cfg = load_camera_config(SCENE / "camera.yaml")
    frames = []
    for f in VideoFileSource(SCENE / "video.mp4", cfg.fps):
        frames.append(f)
        if len(frames) >= a.frames:
            break
    maker = SnapshotMaker(create_detector(cfg.detector).detect, YuNetDetector())
    make = {}
    for label, size in (("768x576", None), ("1280x720", (1280, 720))):
        times, sizes = [], []
        for f in frames[:: max(1, len(frames) // 10)]:
            img = f.image if size is None else cv2.resize(f.image, size, cv2.INTER_CUBIC)
            t = time.perf_counter()
            s = maker.make(cfg.id, img, datetime.now(UTC))
            times.append(time.perf_counter() - t)
            sizes.append(len(s.jpeg))
        make[label] = {
            "ms_median": round(1000 * statistics.median(times), 1),
            "ms_max": round(1000 * max(times), 1),
            "bytes_median": int(statistics.median(sizes)),
            "n": len(times),
        }
    runs: dict[str, list[dict]] = {"baseline": [], "with_snapshots": []}
    for _ in range(a.repeat):
        runs["baseline"].append(frame_loop(cfg, frames, None, a.every))
        runs["with_snapshots"].append(frame_loop(cfg, frames, maker, a.every))
    base = statistics.median(r["fps"] for r in runs["baseline"])
    withs = statistics.median(r["fps"] for r in runs["with_snapshots"])
    ms = make["768x576"]["ms_median"]
    print(
        json.dumps(
            {
                "bench": "snapshot",
                "machine": {
                    "cpus": os.cpu_count(),
                    "load_avg": os.getloadavg()[0],
                    "python": platform.python_version(),
                },
                "make": make,
                "frame_loop": {
                    "frames": len(frames),
                    "snapshot_every_s": a.every,
                    "baseline_fps": [round(r["fps"], 1) for r in runs["baseline"]],
                    "with_snapshots_fps": [round(r["fps"], 1) for r in runs["with_snapshots"]],
                    "snapshots_made": [r["snapshots"] for r in runs["with_snapshots"]],
                    "ratio_with_over_baseline": round(withs / base, 3),
                },
                # CPU share of one core at the shipped interval (60 s), 768x576.
                "duty_cycle_at_60s": round(ms / 1000 / 60, 4),
                "frame_shape": list(np.asarray(frames[0].image).shape),
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
