"""Render a pedestrian signal head and paste it into a video frame.

No licensed pictures of pedestrian signals exist offline, so the heads in the sample
videos are drawn: a dark housing with the stop lamp (standing figure) above the walk
lamp (walking figure), each lamp behind a hood. Drawing happens at 8x the target size
and is shrunk with area averaging, which gives the soft, anti-aliased edges a real
camera would record instead of hard synthetic pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

Phase = Literal["red", "green", "dark"]

# Lit lamp colours (BGR), chosen to be saturated and bright like LED lamps on camera.
LAMP_BGR: dict[str, tuple[int, int, int]] = {
    "red": (40, 30, 245),
    "orange": (20, 140, 255),
    "green": (150, 255, 60),
    "white": (240, 245, 245),
}
_SUPER = 8  # supersampling factor


@dataclass(frozen=True)
class HeadColours:
    """Lamp colours of one signal head: ``stop`` lamp on top, ``walk`` lamp below."""

    stop: Literal["red", "orange"] = "red"
    walk: Literal["green", "white"] = "green"


def _standing_figure(canvas: np.ndarray, cx: int, cy: int, s: int, colour: tuple) -> None:
    """A standing person (stop), drawn into a lamp cell of half-size ``s``."""
    t = max(1, s // 5)
    cv2.circle(canvas, (cx, cy - int(0.62 * s)), int(0.16 * s), colour, -1, cv2.LINE_AA)
    cv2.line(canvas, (cx, cy - int(0.42 * s)), (cx, cy + int(0.15 * s)), colour, t + 2)
    cv2.line(canvas, (cx - int(0.3 * s), cy - int(0.3 * s)), (cx - int(0.3 * s), cy), colour, t)
    cv2.line(canvas, (cx + int(0.3 * s), cy - int(0.3 * s)), (cx + int(0.3 * s), cy), colour, t)
    cv2.line(
        canvas,
        (cx - int(0.3 * s), cy - int(0.35 * s)),
        (cx + int(0.3 * s), cy - int(0.35 * s)),
        colour,
        t,
    )
    for dx in (-int(0.1 * s), int(0.1 * s)):
        cv2.line(canvas, (cx + dx, cy + int(0.1 * s)), (cx + dx, cy + int(0.78 * s)), colour, t)


def _walking_figure(canvas: np.ndarray, cx: int, cy: int, s: int, colour: tuple) -> None:
    """A striding person (walk), drawn into a lamp cell of half-size ``s``."""
    t = max(1, s // 5)
    cv2.circle(
        canvas, (cx + int(0.05 * s), cy - int(0.62 * s)), int(0.16 * s), colour, -1, cv2.LINE_AA
    )
    hip = (cx - int(0.05 * s), cy + int(0.12 * s))
    neck = (cx + int(0.03 * s), cy - int(0.42 * s))
    cv2.line(canvas, neck, hip, colour, t + 2)
    cv2.line(canvas, (neck[0], neck[1] + t), (cx - int(0.4 * s), cy - int(0.05 * s)), colour, t)
    cv2.line(canvas, (neck[0], neck[1] + t), (cx + int(0.4 * s), cy - int(0.1 * s)), colour, t)
    cv2.line(canvas, hip, (cx - int(0.42 * s), cy + int(0.78 * s)), colour, t)
    cv2.line(canvas, hip, (cx + int(0.38 * s), cy + int(0.78 * s)), colour, t)


def render(phase: Phase, size: tuple[int, int], colours: HeadColours = HeadColours()) -> np.ndarray:
    """Draw the head showing ``phase`` ("red" = stop lit, "green" = walk lit, "dark").

    Args:
        phase: which lamp is lit; the phase names follow edge.signal (red/green/dark)
            whatever the lamp colours are.
        size: (width, height) in pixels of the whole head; the stop lamp fills the top
            half and the walk lamp the bottom half, as the ROI reader expects.
        colours: lamp colours (red/green in most of Europe, orange/white in the US).

    Returns:
        A BGR uint8 image of ``size``.
    """
    w, h = size
    if w < 6 or h < 12:
        raise ValueError(f"signal head size {size}: expected at least 6x12 pixels")
    W, H = w * _SUPER, h * _SUPER
    img = np.full((H, W, 3), (28, 30, 30), np.uint8)  # housing, dark grey-black
    cv2.rectangle(img, (0, 0), (W - 1, H - 1), (55, 58, 58), max(2, _SUPER))
    half = H // 2
    s = int(min(W, half) * 0.42)
    for k, (lit, lamp) in enumerate(
        ((phase == "red", colours.stop), (phase == "green", colours.walk))
    ):
        cx, cy = W // 2, half * k + half // 2
        lens = (10, 12, 12)
        cv2.circle(img, (cx, cy), int(s * 1.08), lens, -1, cv2.LINE_AA)
        bgr = LAMP_BGR[lamp]
        # A lit lens glows faintly; an unlit figure stays barely visible (phantom).
        if lit:
            glow = tuple(int(0.22 * c) for c in bgr)
            cv2.circle(img, (cx, cy), int(s * 1.0), glow, -1, cv2.LINE_AA)
            fig = bgr
        else:
            fig = tuple(int(0.16 * c) + 14 for c in bgr)
        (_standing_figure if k == 0 else _walking_figure)(img, cx, cy, s, fig)
        # Hood over the lamp: a dark band at the top of each cell.
        cv2.rectangle(img, (0, half * k), (W - 1, half * k + int(0.08 * half)), (18, 18, 18), -1)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def composite(frame: np.ndarray, roi: tuple[int, int, int, int], head: np.ndarray) -> None:
    """Paste ``head`` into ``frame`` (in place) at ``roi`` = (x, y, w, h).

    A light blur matches the softness of the surrounding compressed video, so the head
    does not stand out as sharper than everything else in the frame.
    """
    x, y, w, h = roi
    if head.shape[:2] != (h, w):
        raise ValueError(f"head is {head.shape[1]}x{head.shape[0]}, ROI is {w}x{h}")
    if x < 0 or y < 0 or x + w > frame.shape[1] or y + h > frame.shape[0]:
        raise ValueError(f"ROI {roi} lies outside the {frame.shape[1]}x{frame.shape[0]} frame")
    frame[y : y + h, x : x + w] = cv2.GaussianBlur(head, (3, 3), 0.6)


def draw_mount(frame: np.ndarray, roi: tuple[int, int, int, int], pole_x: int) -> None:
    """Draw a short bracket from the head to the pole at ``pole_x`` (in place)."""
    x, y, w, h = roi
    near = x + w if pole_x > x else x
    for yy in (y + h // 4, y + 3 * h // 4):
        cv2.line(frame, (near, yy), (pole_x, yy), (95, 100, 100), 2, cv2.LINE_AA)


def draw_pole(
    frame: np.ndarray, roi: tuple[int, int, int, int], x: int, top: int, foot: int
) -> None:
    """Draw a grey pole from ``top`` to ``foot`` at column ``x`` and bracket the head to it."""
    cv2.line(frame, (x, top), (x, foot), (105, 110, 110), 5, cv2.LINE_AA)
    cv2.line(frame, (x - 1, top), (x - 1, foot), (150, 155, 155), 1, cv2.LINE_AA)
    draw_mount(frame, roi, x)
