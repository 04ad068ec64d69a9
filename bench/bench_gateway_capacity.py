"""How many cameras one gateway sustains at 10 analysed frames/s, on this machine.

N camera workers run concurrently in threads, as the gateway runs them (one thread per
camera: decode, motion gate, tracker, signal, rule, violator face stage), each on the
busy sample video (real pedestrians, vtest_road; re-encoded as H.264 at 720p, 1080p or 2160p
with ``--resolution``) as fast as it can. Detection runs either on the gateway's shared
detector pool with its thread plan (``--mode pool``, what ``edge run`` does) or on one
session per camera with ``detector.threads`` each (``--mode per-camera``, the gateway
before the pool). A camera "keeps up" when its own analysed rate is at least the target
(10 fps). N grows until the slowest camera falls below it; the answer is the largest N
that kept up. Baseline, same run: the raw detector's single-stream inferences/s on the
same decoded frames (decode excluded).

CPU share: the process's CPU seconds per analysed frame (all threads), and what one
camera at the target rate takes of the machine (share of all cores). Load average is
printed before and after (the machine may be shared).

``--model`` replaces the scene's ``detector.model`` (a models/manifest.json name such as
``pedestrian_ssdlite_mnv2_int8``, or a path) for the cameras and the raw baseline; the
scene's own model's raw rate is then measured too, in the same run
(``raw_pedestrian_ssdlite_mnv2_inferences_per_s``).

    .venv/bin/python bench/bench_gateway_capacity.py [--resolution 720] [--mode pool]
        [--frames 100] [--max-cameras 10] [--model pedestrian_ssdlite_mnv2_int8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

from edge.capture import VideoFileSource
from edge.config import CameraConfig, load_camera_config
from edge.detectors import create_detector
from edge.detectors.pool import DetectorPool
from edge.gateway_config import DetectorPoolConfig
from edge.pipeline import build_pipeline, make_face_stage
from edge.thread_plan import available_cores, plan_threads

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scaled_scene import scaled_camera, scaled_video

REPO = Path(__file__).resolve().parents[1]
SCENE = REPO / "sample_media" / "scenes" / "vtest_road"
SIZES = {576: (768, 576), 720: (1280, 720), 1080: (1920, 1080), 2160: (3840, 2160)}


def raw_detector_rate(cfg: CameraConfig, video: Path, frames: int) -> float:
    """Single-stream raw inferences/s on pre-decoded frames (decode excluded)."""
    imgs = [f.image for _, f in zip(range(frames), VideoFileSource(video, cfg.fps), strict=False)]
    det = create_detector(cfg.detector)
    det.detect(imgs[0])  # warm-up
    t0 = time.perf_counter()
    for img in imgs:
        det.detect(img)
    return len(imgs) / (time.perf_counter() - t0)


def run_cameras(
    cfg: CameraConfig, video: Path, n: int, frames: int, mode: str
) -> tuple[list[float], float, dict[int, int]]:
    """Analysed frames/s of each of ``n`` concurrent camera workers (decode included),
    the process CPU seconds per analysed frame, and the pool's batch sizes."""
    pool = None
    if mode == "pool":
        plan = plan_threads(DetectorPoolConfig(), available_cores(), n)
        plan.apply_process_wide()
        pool = DetectorPool(plan)
    cams = [cfg.model_copy(update={"id": f"cam-{i}"}) for i in range(n)]
    pipelines = [build_pipeline(c, make_face_stage(c, None), detector_pool=pool) for c in cams]
    first = next(iter(VideoFileSource(video, cfg.fps))).image
    for p in pipelines:  # model load and warm-up are not part of the steady state
        p.detector.detect(first)
    if pool is not None:
        pool.batch_sizes.clear()
    start = threading.Barrier(n + 1)
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
    start.wait()
    cpu0 = time.process_time()
    for t in threads:
        t.join()
    cpu = time.process_time() - cpu0
    batches = dict(pool.batch_sizes) if pool is not None else {}
    if pool is not None:
        pool.close()
    return rates, cpu / (n * frames), batches


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resolution", type=int, choices=sorted(SIZES), default=576)
    ap.add_argument("--mode", choices=["pool", "per-camera"], default="pool")
    ap.add_argument("--frames", type=int, default=100, help="frames per camera per round")
    ap.add_argument("--target-fps", type=float, default=10.0)
    ap.add_argument("--min-cameras", type=int, default=1)
    ap.add_argument("--max-cameras", type=int, default=10)
    ap.add_argument("--model", help="detector.model for every camera (default: the scene's)")
    args = ap.parse_args()
    load_before = os.getloadavg()
    base = load_camera_config(SCENE / "camera.yaml")
    if args.resolution == 576:
        video, cfg = SCENE / "video.mp4", base
    else:
        w, h = SIZES[args.resolution]
        video = scaled_video("vtest_road", w, h)
        cfg = CameraConfig.model_validate(scaled_camera("vtest_road", w, h, video))
    scene_model = cfg.detector.model
    raw_fp32 = None
    if args.model:
        if args.model != scene_model:
            raw_fp32 = raw_detector_rate(cfg, video, args.frames)
        cfg = cfg.model_copy(
            update={"detector": cfg.detector.model_copy(update={"model": args.model})}
        )
    raw = raw_detector_rate(cfg, video, args.frames)
    cores = available_cores()
    rounds = []
    sustained = 0
    for n in range(args.min_cameras, args.max_cameras + 1):
        rates, cpu_per_frame, batches = run_cameras(cfg, video, n, args.frames, args.mode)
        ok = min(rates) >= args.target_fps
        rounds.append(
            {
                "cameras": n,
                "slowest_camera_fps": round(min(rates), 1),
                "total_analysed_fps": round(sum(rates), 1),
                "cpu_ms_per_analysed_frame": round(1000 * cpu_per_frame, 1),
                # One camera at the target rate, as a share of all the machine's cores.
                "cpu_share_per_camera_at_target": round(cpu_per_frame * args.target_fps / cores, 3),
                "pool_batch_sizes": {str(k): v for k, v in sorted(batches.items())},
                "kept_up": ok,
                "load_average_1min": round(os.getloadavg()[0], 2),
            }
        )
        print(json.dumps(rounds[-1]), file=sys.stderr)
        if not ok:
            break
        sustained = n
    best = next((r for r in rounds if r["cameras"] == sustained), None)
    plan = plan_threads(DetectorPoolConfig(), cores, rounds[-1]["cameras"])
    # CPU time per frame is what the load of other users on the machine distorts least:
    # how many cameras at the target rate the cores would carry by CPU alone.
    by_cpu = int(1 / rounds[-1]["cpu_share_per_camera_at_target"])
    print(
        json.dumps(
            {
                "machine": {"cpus": cores, "cpu": platform.processor() or platform.machine()},
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "video": str(video.relative_to(REPO)) if video.is_relative_to(REPO) else str(video),
                "resolution": list(SIZES[args.resolution]),
                "mode": args.mode,
                "model": cfg.detector.model,
                "thread_plan": plan.describe()
                if args.mode == "pool"
                else f"one session per camera, {cfg.detector.threads} intra-op threads each",
                "frames_per_camera": args.frames,
                "target_fps_per_camera": args.target_fps,
                "raw_detector_inferences_per_s": round(raw, 1),
                **(
                    {f"raw_{scene_model}_inferences_per_s": round(raw_fp32, 1)}
                    if raw_fp32 is not None
                    else {}
                ),
                "rounds": rounds,
                "cameras_sustained": sustained,
                # Sustained analysed frames/s over the raw single-stream detector rate.
                "sustained_total_fps_over_raw": round(best["total_analysed_fps"] / raw, 3)
                if best
                else 0.0,
                "cameras_if_only_the_detector_cost": int(raw // args.target_fps),
                "cameras_by_cpu_time": by_cpu,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
