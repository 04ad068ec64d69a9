"""The dusk variant of a scene, made from its day video: darker, bluer, noisy.

A noisy 1080p video compresses badly (30+ MB for 30 s in mp4v), so the dusk scene's
video is not stored: it is derived from the day scene's video on demand, deterministically
(seeded noise), and its ground truth is the day scene's (same people, same times). The
signal head keeps the day frame's pixels: a lit lamp stays bright at dusk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tools.video import VideoSink, read_frames

GAMMA, GAIN = 1.7, 0.45
TINT_BGR = (1.15, 1.0, 0.8)  # bluish
GRAIN_SIGMA = 6.0  # temporal noise, grey levels
FIXED_SIGMA = 3.0  # fixed-pattern noise, grey levels
SEED = 18


def describe() -> str:
    return (
        f"derived from the day video: gamma {GAMMA}, x{GAIN}, BGR x{TINT_BGR}, temporal noise "
        f"sigma {GRAIN_SIGMA} and fixed-pattern noise sigma {FIXED_SIGMA} (seed {SEED}); "
        "signal head pixels kept from the day frame"
    )


def darken(frame: np.ndarray, rng: np.random.Generator, fixed: np.ndarray) -> np.ndarray:
    """One dusk frame: gamma + gain, blue tint, temporal and fixed-pattern sensor noise."""
    f = (frame.astype(np.float32) / 255.0) ** GAMMA * GAIN * 255.0
    f *= np.array(TINT_BGR, np.float32)
    f += rng.normal(0.0, GRAIN_SIGMA, f.shape).astype(np.float32) + fixed
    return np.clip(f + 0.5, 0, 255).astype(np.uint8)


def make_dusk_video(day_video: Path, out: Path, fps: float, roi: tuple[int, int, int, int]) -> int:
    """Write ``out`` from ``day_video``; returns the frame count."""
    rng = np.random.default_rng(SEED)
    sink = None
    x, y, w, h = roi
    fixed = None
    for frame in read_frames(day_video):
        if sink is None:
            size = (frame.shape[1], frame.shape[0])
            sink = VideoSink(out, fps, size)
            fixed = rng.normal(0.0, FIXED_SIGMA, frame.shape).astype(np.float32)
        dark = darken(frame, rng, fixed)
        dark[y : y + h, x : x + w] = frame[y : y + h, x : x + w]
        sink.write(dark)
    if sink is None:
        raise RuntimeError(f"{day_video}: no frames")
    sink.close()
    return sink.count


def ensure_dusk_video(scene_dir: Path, day_dir: Path, fps: float, roi) -> Path:
    """The dusk video of ``scene_dir``, made from ``day_dir``'s video if missing."""
    out = scene_dir / "video.mp4"
    if not out.is_file():
        tmp = out.with_name("video.tmp.mp4")
        make_dusk_video(day_dir / "video.mp4", tmp, fps, tuple(roi))
        tmp.replace(out)
    return out
