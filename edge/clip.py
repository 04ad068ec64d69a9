"""Encode a violation's frames as a VP8 WebM clip.

Why VP8 WebM through PyAV: every Chromium build plays VP8/VP9 WebM without plugins;
H.264 only builds with proprietary codecs (Debian's 156 here does, canPlayType
"probably" — another build may not). PyAV's wheels bundle FFmpeg with libvpx, so the
gateway needs nothing from the system; OpenCV's VideoWriter in the opencv-python wheels
has no WebM writer we can rely on. VP8 rather than VP9: about 10x faster to encode on
one core at this size (0.47 s vs 4.7 s for 41 frames at 768x576, measured here) and
well inside the budget (bench/bench_evidence_clip.py).

Timing: each frame's presentation time is its own stream time (ms), so a clip with
skipped frames (motion gate, dropped stream frames) still plays at true speed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from fractions import Fraction

import av
import numpy as np

CODECS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}
TIME_BASE = Fraction(1, 1000)  # Matroska's default: milliseconds


class ClipError(Exception):
    """The clip could not be encoded (the violation still goes out with its stills)."""


def encode_webm(
    images: Sequence[np.ndarray],
    times: Sequence[float],
    fps: float,
    max_bytes: int,
    codec: str = "vp8",
) -> bytes:
    """WebM bytes of ``images`` (BGR, all one even size) shown at ``times`` (seconds).

    The bit rate is chosen so the clip fits ``max_bytes``; libvpx's rate control may
    overshoot a little, so a clip that comes out too big is encoded once more at a rate
    scaled down by the overshoot.
    """
    if not images or len(images) != len(times):
        raise ClipError(f"clip: {len(images)} images for {len(times)} times")
    h, w = images[0].shape[:2]
    if h % 2 or w % 2:
        raise ClipError(f"clip: frame size {w}x{h} must be even (yuv420p)")
    duration = max(times[-1] - times[0], 0.0) + 1.0 / fps
    rate = int(max_bytes * 8 * 0.85 / duration)
    data = _encode(images, times, fps, rate, codec)
    if len(data) > max_bytes:
        data = _encode(images, times, fps, int(rate * max_bytes / len(data) * 0.8), codec)
    if len(data) > max_bytes:
        raise ClipError(f"clip: {len(data)} bytes over the budget of {max_bytes}")
    return data


def _encode(
    images: Sequence[np.ndarray], times: Sequence[float], fps: float, bit_rate: int, codec: str
) -> bytes:
    buf = io.BytesIO()
    h, w = images[0].shape[:2]
    try:
        with av.open(buf, mode="w", format="webm") as out:
            stream = out.add_stream(CODECS[codec], rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.time_base = TIME_BASE
            stream.bit_rate = max(bit_rate, 50_000)
            # A key frame every second: the console's scrub and frame steps seek fast.
            stream.codec_context.gop_size = max(1, round(fps))
            # One thread: the gateway's other core belongs to the frame loops; libvpx's
            # own threading was slower here on a loaded 2-core machine, not faster.
            stream.codec_context.thread_count = 1
            stream.options = {"deadline": "good", "cpu-used": "5", "auto-alt-ref": "0"}
            t0 = times[0]
            last_pts = -1
            for img, t in zip(images, times, strict=True):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
                pts = max(round((t - t0) / TIME_BASE), last_pts + 1)
                frame.pts, frame.time_base, last_pts = pts, TIME_BASE, pts
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    except (av.FFmpegError, ValueError) as e:
        raise ClipError(f"clip: encoding failed: {e}") from None
    return buf.getvalue()
