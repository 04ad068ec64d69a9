"""What the camera health checks cost per analysed frame, against the pipeline itself.

Prints JSON: per-frame time of ``SceneMonitor.observe`` (defaults; with a calibration
reference, so the ORB view-moved check runs at its rate), of one ORB moved check on its
own, and of ``CameraPipeline.process`` on the same vtest_road frames measured in the
same run; the ratio is the share the checks add. The 1-minute load average is printed
with them (other work on the machine changes absolute numbers, less the ratio).

    .venv/bin/python bench/bench_scene_health.py [--frames N]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from edge.capture import VideoFileSource
from edge.config import load_camera_config
from edge.pipeline import build_pipeline
from edge.scene_health import SceneMonitor

REPO = Path(__file__).resolve().parents[1]
SCENE = REPO / "sample_media" / "scenes" / "vtest_road"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args()
    cfg = load_camera_config(SCENE / "camera.yaml")
    frames = []
    for f in VideoFileSource(SCENE / "video.mp4", cfg.fps):
        frames.append(f)
        if len(frames) >= args.frames:
            break
    zone = [tuple(p) for p in cfg.crossing.zone]

    pipeline = build_pipeline(cfg)
    t = time.perf_counter()
    for f in frames:
        pipeline.process(f)
    pipe_s = (time.perf_counter() - t) / len(frames)

    monitor = SceneMonitor(cfg.health, zone, reference=frames[0].image)
    t = time.perf_counter()
    for f in frames:
        monitor.observe(f.image, f.t)
    mon_s = (time.perf_counter() - t) / len(frames)

    moved = SceneMonitor(
        cfg.health.model_copy(update={"moved_every_s": 1e-9}), zone, frames[0].image
    )
    moved.observe(frames[0].image, 0.0)  # reference features computed once, not timed
    t = time.perf_counter()
    for i, f in enumerate(frames[1:21]):
        moved.observe(f.image, float(i + 1))
    orb_s = (time.perf_counter() - t) / 20
    print(
        json.dumps(
            {
                "frames": len(frames),
                "load_avg_1m": round(os.getloadavg()[0], 2),
                "pipeline_ms_per_frame": round(pipe_s * 1e3, 3),
                "scene_checks_ms_per_frame": round(mon_s * 1e3, 3),
                "scene_checks_share_of_pipeline": round(mon_s / pipe_s, 4),
                "orb_moved_check_ms": round(orb_s * 1e3, 2),
                "moved_check_every_s": cfg.health.moved_every_s,
            }
        )
    )


if __name__ == "__main__":
    main()
