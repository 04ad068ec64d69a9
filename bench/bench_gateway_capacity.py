"""How many cameras one gateway sustains at 10 analysed frames/s, on this machine.

N camera workers run concurrently in threads, as the gateway runs them (one thread per
camera: decode, motion gate, detector, tracker, signal, rule, violator face stage), each
on the busy sample video (real pedestrians, vtest_road) as fast as it can. A camera
"keeps up" when its own analysed rate is at least the target (the cameras' analysis rate,
10 fps). N grows until the slowest camera falls below the target; the answer is the
largest N that kept up. The baseline, measured in the same run: the raw detector's
single-stream inferences/s on the same decoded frames (what one camera could get if the
detector were the only cost and it had the machine to itself).

Prints JSON. Run on the gateway hardware in question (the figure is this machine's):

    .venv/bin/python bench/bench_gateway_capacity.py [--frames 150] [--max-cameras 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from pathlib import Path

from edge.capture import VideoFileSource
from edge.config import CameraConfig, load_camera_config
from edge.detectors import create_detector
from edge.offline import make_face_stage
from edge.pipeline import build_pipeline

REPO = Path(__file__).resolve().parents[1]
SCENE = REPO / "sample_media" / "scenes" / "vtest_road"


def raw_detector_rate(cfg: CameraConfig, video: Path, frames: int) -> float:
    """Single-stream raw inferences/s on pre-decoded frames (decode excluded)."""
    imgs = [f.image for _, f in zip(range(frames), VideoFileSource(video, cfg.fps), strict=False)]
    det = create_detector(cfg.detector)
    det.detect(imgs[0])  # warm-up
    t0 = time.perf_counter()
    for img in imgs:
        det.detect(img)
    return len(imgs) / (time.perf_counter() - t0)


def run_cameras(cfg: CameraConfig, video: Path, n: int, frames: int) -> list[float]:
    """Analysed frames/s of each of ``n`` concurrent camera workers (decode included)."""
    pipelines = [build_pipeline(cfg, make_face_stage(cfg, None)) for _ in range(n)]
    for p in pipelines:  # model load and warm-up are not part of the steady state
        p.detector.detect(next(iter(VideoFileSource(video, cfg.fps))).image)
    start = threading.Barrier(n)
    rates = [0.0] * n

    def work(i: int) -> None:
        src = iter(VideoFileSource(video, cfg.fps))
        start.wait()
        t0, done = time.perf_counter(), 0
        for frame in src:
            pipelines[i].process(frame)
            done += 1
            if done >= frames:
                break
        rates[i] = done / (time.perf_counter() - t0)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return rates


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--camera", type=Path, default=SCENE / "camera.yaml")
    ap.add_argument("--video", type=Path, default=SCENE / "video.mp4")
    ap.add_argument("--frames", type=int, default=150, help="frames per camera per round")
    ap.add_argument("--target-fps", type=float, default=10.0)
    ap.add_argument("--max-cameras", type=int, default=8)
    args = ap.parse_args()
    cfg = load_camera_config(args.camera)
    raw = raw_detector_rate(cfg, args.video, args.frames)
    rounds = []
    sustained = 0
    for n in range(1, args.max_cameras + 1):
        rates = run_cameras(cfg, args.video, n, args.frames)
        ok = min(rates) >= args.target_fps
        rounds.append(
            {
                "cameras": n,
                "slowest_camera_fps": round(min(rates), 1),
                "total_analysed_fps": round(sum(rates), 1),
                "kept_up": ok,
            }
        )
        if not ok:
            break
        sustained = n
    best = next((r for r in rounds if r["cameras"] == sustained), None)
    print(
        json.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "cpu": platform.processor() or platform.machine(),
                },
                "video": str(args.video.relative_to(REPO))
                if args.video.is_relative_to(REPO)
                else str(args.video),
                "frames_per_camera": args.frames,
                "detector_threads": cfg.detector.threads,
                "target_fps_per_camera": args.target_fps,
                "raw_detector_inferences_per_s": round(raw, 1),
                "rounds": rounds,
                "cameras_sustained": sustained,
                # Sustained analysed frames/s over the raw single-stream detector rate.
                "sustained_total_fps_over_raw": round(best["total_analysed_fps"] / raw, 3)
                if best
                else 0.0,
                "cameras_if_only_the_detector_cost": int(raw // args.target_fps),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
