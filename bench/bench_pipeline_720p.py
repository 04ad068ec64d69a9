"""One 720p camera's whole pipeline against the raw detector, measured in the same run.

The source is the busy sample scene (vtest_road, real pedestrians) re-encoded as H.264 at
1280x720 (bench/scaled_scene.py). Measured, interleaved over ``--rounds`` (median of
each, so other load on the machine hits all alike):

* ``raw``: the detector alone on the pre-decoded 720p frames (decode excluded): the
  baseline of the issue's target (pipeline ≥ 0.8x raw).
* ``main_only``: what ``jaywatch edge process`` does with no detect stream: OpenCV decode
  + signal + motion gate + region crop + detector + tracker + rule (decode included).
* ``decoder_downscale``: the same with ``detect_stream.width`` (PyAV decodes each frame
  once on its prefetch thread, the small detect image made from it; evidence keeps 720p).
* ``sub_stream``: ``detect_stream.source`` = the same scene encoded at the detect width
  (a camera's sub stream), decoded beside the main one and paired by timestamp.
* ``main_only_predecoded``: the pipeline on pre-decoded frames (decode excluded, as raw).

Prints JSON with the ratios, the load average, and the violations each path found in
the window (entry time and foot point, the pipeline flushed at the window's end so a
violation still waiting for its *after* shot counts too): the paths must agree.

    .venv/bin/python bench/bench_pipeline_720p.py [--frames 150] [--rounds 3] [--width 640]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from edge.av_capture import camera_source
from edge.capture import VideoFileSource
from edge.config import CameraConfig
from edge.detectors import create_detector
from edge.pipeline import build_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scaled_scene import scaled_camera, scaled_video


def time_raw(cfg: CameraConfig, images: list[np.ndarray]) -> float:
    det = create_detector(cfg.detector)
    det.detect(images[0])
    t0 = time.perf_counter()
    for img in images:
        det.detect(img)
    return len(images) / (time.perf_counter() - t0)


def time_pipeline(cfg: CameraConfig, video: Path, frames: int) -> tuple[float, list[str]]:
    """Frames/s of the whole pipeline, decode included, and the violations found."""
    pipe = build_pipeline(cfg, None)
    pipe.detector.detect(next(iter(VideoFileSource(video))).image)  # model warm-up
    t0, n, found = time.perf_counter(), 0, []
    for frame in camera_source(cfg, video):
        found += pipe.process(frame)
        n += 1
        if n >= frames:
            break
    fps = n / (time.perf_counter() - t0)
    found += pipe.flush()  # not timed: what was pending at the window's end
    return fps, [
        f"{v.entry.t:.1f}s foot ({v.entry.foot[0]:.0f},{v.entry.foot[1]:.0f})" for v in found
    ]


def time_predecoded(cfg: CameraConfig, frames: list) -> float:
    pipe = build_pipeline(cfg, None)
    pipe.detector.detect(frames[0].image)
    t0 = time.perf_counter()
    for f in frames:
        pipe.process(f)
    return len(frames) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--width", type=int, default=640, help="detect image width")
    args = ap.parse_args()
    load_before = os.getloadavg()
    video = scaled_video("vtest_road", 1280, 720)
    cam = scaled_camera("vtest_road", 1280, 720, video)
    cfg = CameraConfig.model_validate(cam)
    down = CameraConfig.model_validate({**cam, "detect_stream": {"width": args.width}})
    sub_h = round(720 * args.width / 1280) // 2 * 2
    sub_video = scaled_video("vtest_road", args.width, sub_h)
    sub = CameraConfig.model_validate({**cam, "detect_stream": {"source": str(sub_video)}})
    frames = [f for _, f in zip(range(args.frames), VideoFileSource(video), strict=False)]
    images = [f.image for f in frames]
    runs: dict[str, list[float]] = {
        "raw": [],
        "main_only": [],
        "decoder_downscale": [],
        "sub_stream": [],
        "main_only_predecoded": [],
    }
    violations = {}
    for _ in range(args.rounds):
        runs["raw"].append(time_raw(cfg, images))
        fps, violations["main_only"] = time_pipeline(cfg, video, args.frames)
        runs["main_only"].append(fps)
        fps, violations["decoder_downscale"] = time_pipeline(down, video, args.frames)
        runs["decoder_downscale"].append(fps)
        fps, violations["sub_stream"] = time_pipeline(sub, video, args.frames)
        runs["sub_stream"].append(fps)
        runs["main_only_predecoded"].append(time_predecoded(cfg, frames))
    med = {k: float(np.median(v)) for k, v in runs.items()}
    raw = med["raw"]
    print(
        json.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "cpu": platform.processor() or platform.machine(),
                },
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "video": "vtest_road re-encoded H.264 1280x720 (bench/scaled_scene.py)",
                "frames": len(frames),
                "rounds": args.rounds,
                "detector_threads": cfg.detector.threads,
                "detect_width": args.width,
                "per_round_frames_per_s": {k: [round(x, 1) for x in v] for k, v in runs.items()},
                "raw_detector_inferences_per_s": round(raw, 1),
                "ratios_to_raw": {k: round(v / raw, 3) for k, v in med.items() if k != "raw"},
                "violations_in_window": violations,
                "target_pipeline_ge_0.8_raw": {
                    k: med[k] / raw >= 0.8 for k in ("main_only", "decoder_downscale", "sub_stream")
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
