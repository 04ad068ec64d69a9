"""One 720p camera's whole pipeline against the raw detector, measured in the same run.

The source is the busy sample scene (vtest_road, real pedestrians) re-encoded as H.264 at
1280x720 (bench/scaled_scene.py). Measured, interleaved over ``--rounds`` (median of
each, so other load on the machine hits all alike):

* ``raw``: the detector alone on the pre-decoded 720p frames (decode excluded): the
  baseline of the issue's target (pipeline ≥ 0.8x raw).
* ``main_only``: what ``jaywatch edge process`` does with no detect stream: OpenCV decode
  (on its decode-ahead thread, edge/capture.py) + signal + motion gate + region crop +
  detector + tracker + rule (decode included), the motion gate and detector a frame
  ahead of the tracker on their own thread (``CameraPipeline.run``).
* ``main_only_decode_ahead``: the same frame by frame (``CameraPipeline.process``, as
  the gateway's camera threads run it): decode ahead, the rest serial.
* ``main_only_sync``: all serial, decode in the frame loop's thread: what the two
  threads save.
* ``decode``: the OpenCV decode alone (no pipeline), for the breakdown.
* ``decoder_downscale``: ``main_only`` with ``detect_stream.width`` (PyAV decodes each frame
  once on its prefetch thread, the small detect image made from it; evidence keeps 720p).
* ``sub_stream``: ``detect_stream.source`` = the same scene encoded at the detect width
  (a camera's sub stream), decoded beside the main one and paired by timestamp.
* ``sub_stream_always_converted``: ``sub_stream`` with every main frame converted to BGR
  (``AvSource(on_demand_main=False)``: the behaviour before main frames were converted
  on demand), the same-run baseline of that change.
* ``main_only_predecoded``: the pipeline on pre-decoded frames (decode excluded, as raw),
  frame by frame; ``main_only_predecoded_ahead`` the same with the detector ahead.

Each path's wall rate and its CPU time per frame (process user+sys, every thread:
onnxruntime's, FFmpeg's and the decode-ahead thread's) are reported per round with the
load average, and the medians give a per-frame breakdown: decode, detector (raw) and the
rest of the frame loop (predecoded pipeline minus raw), in wall and CPU ms.

Prints JSON with the ratios, the load average, and the violations each path found in
the window (entry time and foot point, the pipeline flushed at the window's end so a
violation still waiting for its *after* shot counts too): the paths must agree.

    .venv/bin/python bench/bench_pipeline_720p.py [--frames 150] [--rounds 3] [--width 640]
        [--height 1080]   (another main resolution, 16:9; the sub stream stays --width)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.av_capture import camera_source
from edge.capture import Frame, VideoFileSource
from edge.config import CameraConfig
from edge.detectors import create_detector
from edge.pipeline import build_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scaled_scene import scaled_camera, scaled_video


@dataclass
class Timed:
    """One path's pass over the window: frames, wall seconds, process CPU seconds."""

    frames: int
    wall_s: float
    cpu_s: float

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s

    @property
    def wall_ms(self) -> float:
        return 1e3 * self.wall_s / self.frames

    @property
    def cpu_ms(self) -> float:
        return 1e3 * self.cpu_s / self.frames


class _Clock:
    """Wall and process CPU (user+sys of every thread) since construction."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def done(self, frames: int) -> Timed:
        return Timed(frames, time.perf_counter() - self.wall, time.process_time() - self.cpu)


def time_raw(cfg: CameraConfig, images: list[np.ndarray]) -> Timed:
    det = create_detector(cfg.detector)
    det.detect(images[0])
    clock = _Clock()
    for img in images:
        det.detect(img)
    return clock.done(len(images))


def time_decode(video: Path, frames: int) -> Timed:
    """The OpenCV decode alone, in this thread (what the frame loop would wait for)."""
    clock, n = _Clock(), 0
    for _ in VideoFileSource(video, prefetch=0):
        n += 1
        if n >= frames:
            break
    return clock.done(n)


def time_pipeline(
    cfg: CameraConfig,
    video: Path,
    frames: int,
    source: Iterable[Frame] | None = None,
    detect_ahead: bool = True,
) -> tuple[Timed, list[str]]:
    """The whole pipeline, decode included, and the violations found: as ``jaywatch edge
    process`` runs it (``CameraPipeline.run``, detector a frame ahead of the tracker), or
    frame by frame (``process``, as before; the gateway's camera threads) when not
    ``detect_ahead``."""
    pipe = build_pipeline(cfg, None)
    pipe.detector.detect(next(iter(VideoFileSource(video, prefetch=0))).image)  # warm-up
    src = camera_source(cfg, video) if source is None else source
    window = (f for _, f in zip(range(frames), src, strict=False))
    clock, n, found = _Clock(), 0, []
    for done in pipe.run(window, detect_ahead=detect_ahead):
        found += done
        n += 1
    timed = clock.done(n)
    found += pipe.flush()  # not timed: what was pending at the window's end
    return timed, [
        f"{v.entry.t:.1f}s foot ({v.entry.foot[0]:.0f},{v.entry.foot[1]:.0f})" for v in found
    ]


def time_predecoded(cfg: CameraConfig, frames: list[Frame], detect_ahead: bool) -> Timed:
    pipe = build_pipeline(cfg, None)
    pipe.detector.detect(frames[0].image)
    clock = _Clock()
    for _ in pipe.run(frames, detect_ahead=detect_ahead):
        pass
    return clock.done(len(frames))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--width", type=int, default=640, help="detect image width")
    ap.add_argument("--height", type=int, default=720, help="main stream height (16:9)")
    args = ap.parse_args()
    mh = args.height
    mw = mh * 16 // 9
    load_before = os.getloadavg()
    video = scaled_video("vtest_road", mw, mh)
    cam = scaled_camera("vtest_road", mw, mh, video)
    cfg = CameraConfig.model_validate(cam)
    down = CameraConfig.model_validate({**cam, "detect_stream": {"width": args.width}})
    sub_h = round(mh * args.width / mw) // 2 * 2
    sub_video = scaled_video("vtest_road", args.width, sub_h)
    sub = CameraConfig.model_validate({**cam, "detect_stream": {"source": str(sub_video)}})
    frames = [f for _, f in zip(range(args.frames), VideoFileSource(video), strict=False)]
    images = [f.image for f in frames]
    runs: dict[str, list[Timed]] = {
        k: []
        for k in (
            "raw",
            "decode",
            "main_only",
            "main_only_decode_ahead",
            "main_only_sync",
            "decoder_downscale",
            "sub_stream",
            "sub_stream_always_converted",
            "main_only_predecoded",
            "main_only_predecoded_ahead",
        )
    }
    loads: list[float] = []
    violations = {}
    for _ in range(args.rounds):
        loads.append(round(os.getloadavg()[0], 2))
        runs["raw"].append(time_raw(cfg, images))
        runs["decode"].append(time_decode(video, args.frames))
        timed, violations["main_only"] = time_pipeline(cfg, video, args.frames)
        runs["main_only"].append(timed)
        timed, violations["main_only_decode_ahead"] = time_pipeline(
            cfg, video, args.frames, detect_ahead=False
        )
        runs["main_only_decode_ahead"].append(timed)
        sync = VideoFileSource(video, cfg.fps, prefetch=0)
        timed, violations["main_only_sync"] = time_pipeline(
            cfg, video, args.frames, sync, detect_ahead=False
        )
        runs["main_only_sync"].append(timed)
        timed, violations["decoder_downscale"] = time_pipeline(down, video, args.frames)
        runs["decoder_downscale"].append(timed)
        timed, violations["sub_stream"] = time_pipeline(sub, video, args.frames)
        runs["sub_stream"].append(timed)
        eager = camera_source(sub, video)
        eager.on_demand_main = False  # type: ignore[union-attr]
        timed, violations["sub_stream_always_converted"] = time_pipeline(
            sub, video, args.frames, eager
        )
        runs["sub_stream_always_converted"].append(timed)
        runs["main_only_predecoded"].append(time_predecoded(cfg, frames, False))
        runs["main_only_predecoded_ahead"].append(time_predecoded(cfg, frames, True))
    fps = {k: float(np.median([t.fps for t in v])) for k, v in runs.items()}
    wall = {k: float(np.median([t.wall_ms for t in v])) for k, v in runs.items()}
    cpu = {k: float(np.median([t.cpu_ms for t in v])) for k, v in runs.items()}
    raw = fps["raw"]
    pipelines = [k for k in runs if k not in ("raw", "decode")]

    def parts(d: dict[str, float]) -> dict[str, float]:
        return {
            "decode": round(d["decode"], 2),
            "detector": round(d["raw"], 2),
            "rest_of_frame_loop": round(d["main_only_predecoded"] - d["raw"], 2),
            "main_only_total": round(d["main_only"], 2),
            "main_only_decode_ahead_total": round(d["main_only_decode_ahead"], 2),
            "main_only_sync_total": round(d["main_only_sync"], 2),
        }

    print(
        json.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "cpu": platform.processor() or platform.machine(),
                },
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_per_round": loads,
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "video": f"vtest_road re-encoded H.264 {mw}x{mh} (bench/scaled_scene.py)",
                "frames": len(frames),
                "rounds": args.rounds,
                "detector_threads": cfg.detector.threads,
                "detect_width": args.width,
                "per_round_frames_per_s": {
                    k: [round(t.fps, 1) for t in v] for k, v in runs.items()
                },
                "per_round_cpu_ms_per_frame": {
                    k: [round(t.cpu_ms, 2) for t in v] for k, v in runs.items()
                },
                "raw_detector_inferences_per_s": round(raw, 1),
                "ratios_to_raw": {k: round(fps[k] / raw, 3) for k in pipelines},
                "per_round_ratios_to_raw": {
                    k: [round(t.fps / r.fps, 3) for t, r in zip(runs[k], runs["raw"], strict=True)]
                    for k in pipelines
                },
                "cpu_ms_per_frame": {k: round(v, 2) for k, v in cpu.items()},
                "breakdown_wall_ms_per_frame": parts(wall),
                "breakdown_cpu_ms_per_frame": parts(cpu),
                "violations_in_window": violations,
                "target_pipeline_ge_0.8_raw": {
                    k: fps[k] / raw >= 0.8 for k in ("main_only", "decoder_downscale", "sub_stream")
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
