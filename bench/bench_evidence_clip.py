"""Cost of a violation's clip against the stills alone, measured in the same run.

For every violation the pipeline finds in a scene, renders its evidence twice with the
shipped renderer (edge/evidence_render.py): the *baseline* is the stills alone (three
frames: face blurring, data bar, JPEG); the *clip* is the same plus the clip (every frame
from before_s to after_s blurred, barred and VP8-encoded). Reports per violation: bytes
and wall time of each, and their ratios. Run once at the scene's size (768x576) and once
with the frames upscaled to 1280x720, the size the 1 MB budget is stated for.

    .venv/bin/python bench/bench_evidence_clip.py [--camera C] [--repeat N]

Prints one JSON object. Frames are decoded and the pipeline run before timing starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2

from edge.capture import Frame, VideoFileSource
from edge.config import CameraConfig, load_camera_config
from edge.evidence import FrameFacts, RawEvidence
from edge.evidence_render import EvidenceRenderer, wall_clock
from edge.pipeline import build_pipeline
from edge.violation import Violation

REPO = Path(__file__).resolve().parents[1]
SCENE = REPO / "sample_media" / "faces" / "scene"


def violations(cfg: CameraConfig, video: Path) -> list[Violation]:
    pipe = build_pipeline(cfg, None)
    found: list[Violation] = []
    for frame in VideoFileSource(video, cfg.fps):
        found += pipe.process(frame)
    return found + pipe.flush()


def scaled(v: Violation, size: tuple[int, int] | None) -> Violation:
    """The violation's raw evidence with every frame resized to ``size`` (boxes too)."""
    if size is None or v.raw is None:
        return v
    memo: dict[int, Frame] = {}

    def f(ff: FrameFacts) -> FrameFacts:
        h, w = ff.frame.image.shape[:2]
        sx, sy = size[0] / w, size[1] / h
        if ff.frame.index not in memo:
            img = cv2.resize(ff.frame.image, size, interpolation=cv2.INTER_CUBIC)
            memo[ff.frame.index] = Frame(ff.frame.index, ff.frame.t, img)
        box = None if ff.box is None else (
            ff.box[0] * sx, ff.box[1] * sy, ff.box[2] * sx, ff.box[3] * sy
        )  # fmt: skip
        return FrameFacts(memo[ff.frame.index], box, ff.phase, ff.red_for_s)

    raw = RawEvidence({k: f(x) for k, x in v.raw.stills.items()}, [f(x) for x in v.raw.clip])
    return dataclasses.replace(v, raw=raw)


def measure(cfg: CameraConfig, vs: list[Violation], repeat: int) -> dict:
    still_cfg = cfg.model_copy(update={"evidence": cfg.evidence.model_copy(update={"clip": False})})
    with_clip = EvidenceRenderer(cfg)
    stills_only = EvidenceRenderer(still_cfg, with_clip.blurrer)
    wall_of = wall_clock(datetime.now(UTC))
    stills_only.render(vs[0], wall_of)  # warm-up (ONNX session, encoder)
    rows = []
    for v in vs:
        t_still, t_clip, t_blur, t_enc = [], [], [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            s = stills_only.render(v, wall_of)
            t_still.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            c = with_clip.render(v, wall_of)
            t_clip.append(time.perf_counter() - t0)
            if c.clip is not None:
                t_blur.append(c.clip.blur_s)
                t_enc.append(c.clip.encode_s)
        assert c.clip is not None, "the clip was not made (over budget?)"
        still_bytes = sum(len(x.jpeg) for x in s.evidence)
        rows.append(
            {
                "frame": v.entry.frame,
                "size": [c.clip.width, c.clip.height],
                "clip_frames": c.clip.frames,
                "clip_s": round(c.clip.frames / c.clip.fps, 2),
                "stills_bytes": still_bytes,
                "clip_bytes": len(c.clip.webm),
                "clip_over_stills_bytes": round(len(c.clip.webm) / still_bytes, 2),
                "stills_render_s": round(statistics.median(t_still), 3),
                "stills_plus_clip_render_s": round(statistics.median(t_clip), 3),
                "clip_blur_and_bar_s": round(statistics.median(t_blur), 3),
                "clip_vp8_encode_s": round(statistics.median(t_enc), 3),
                "clip_over_stills_time": round(
                    statistics.median(t_clip) / statistics.median(t_still), 1
                ),
                "within_budget": len(c.clip.webm) <= cfg.evidence.clip_max_bytes,
            }
        )
    return {"budget_bytes": cfg.evidence.clip_max_bytes, "violations": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--camera", type=Path, default=SCENE / "camera.yaml")
    ap.add_argument("--video", type=Path, default=SCENE / "video.mp4")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cfg = load_camera_config(args.camera)
    cfg = cfg.model_copy(update={"faces": cfg.faces.model_copy(update={"enabled": False})})
    vs = violations(cfg, args.video)
    out = {
        "what": "evidence per violation: stills alone (baseline) vs stills + VP8 clip",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },
        "scene": str(
            args.video.relative_to(REPO) if args.video.is_relative_to(REPO) else args.video
        ),
        "native": measure(cfg, vs, args.repeat),
        "upscaled_720p": measure(cfg, [scaled(v, (1280, 720)) for v in vs], args.repeat),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
