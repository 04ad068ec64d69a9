"""Synthetic pedestrian signal heads drawn with OpenCV.

No pedestrian-signal images exist in any package available here (notes/models.md), so
these scenes are made, and say so: a dark housing with the stop symbol (a hand) above the
walk symbol (a walking figure), each lamp lit or unlit, on a textured street background,
then optionally degraded by sensor noise, defocus blur and JPEG compression.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

# BGR of lit lamps as a camera sees them (LED walk lamps are blue-green).
LIT_BGR = {
    "red": (40, 40, 235),
    "orange": (20, 140, 255),
    "green": (170, 235, 60),
    "white": (245, 248, 250),
}
HOUSING_BGR = (38, 40, 42)


@dataclass(frozen=True)
class Scene:
    frame: np.ndarray
    roi: tuple[int, int, int, int]


def _hand(img: np.ndarray, cx: int, cy: int, s: int, colour: tuple[int, int, int]) -> None:
    """A raised hand: palm and four fingers and a thumb."""
    cv2.ellipse(img, (cx, cy + s // 5), (s * 3 // 10, s * 3 // 10), 0, 0, 360, colour, -1)
    for k in range(4):
        x = cx - s * 3 // 10 + k * s * 2 // 10 + s // 20
        cv2.rectangle(img, (x, cy - s * 4 // 10), (x + s // 8, cy), colour, -1)
    cv2.rectangle(img, (cx - s * 45 // 100, cy), (cx - s * 3 // 10, cy + s // 5), colour, -1)


def _walker(img: np.ndarray, cx: int, cy: int, s: int, colour: tuple[int, int, int]) -> None:
    """A walking figure: head, body and striding legs and arms."""
    th = max(2, s // 9)
    cv2.circle(img, (cx, cy - s * 35 // 100), max(2, s // 9), colour, -1)
    cv2.line(img, (cx, cy - s // 5), (cx, cy + s // 8), colour, th + 1)
    cv2.line(img, (cx, cy + s // 8), (cx - s // 5, cy + s * 4 // 10), colour, th)
    cv2.line(img, (cx, cy + s // 8), (cx + s // 5, cy + s * 4 // 10), colour, th)
    cv2.line(img, (cx, cy - s // 8), (cx - s // 5, cy + s // 20), colour, th)
    cv2.line(img, (cx, cy - s // 8), (cx + s // 5, cy), colour, th)


def _lamp_colour(colour: str, lit: bool) -> tuple[int, int, int]:
    """Lit: the lamp colour. Unlit: the same tint, very dim (a dark lens still shows it)."""
    b, g, r = LIT_BGR[colour]
    if lit:
        return (b, g, r)
    return tuple(int(0.15 * c + 0.6 * h) for c, h in zip((b, g, r), HOUSING_BGR, strict=True))


def draw_scene(
    *,
    stop_colour: str = "red",
    walk_colour: str = "green",
    stop_lit: bool = False,
    walk_lit: bool = False,
    lamp_px: int = 40,
    frame_wh: tuple[int, int] = (320, 240),
    noise_sigma: float = 0.0,
    blur_px: int = 0,
    jpeg_quality: int | None = None,
    swap_lamps: bool = False,
    seed: int = 0,
) -> Scene:
    """A frame with one stacked pedestrian head; ``roi`` is the head's bounding box.

    ``swap_lamps`` draws the stop symbol in the lower lamp (a reflection / wrong head),
    to check that the stacked layout looks for each colour only where its lamp is.
    """
    rng = np.random.default_rng(seed)
    fw, fh = frame_wh
    # Street-ish background: sky gradient over a grey road, with texture.
    yy = np.linspace(0, 1, fh, dtype=np.float32)[:, None, None]
    sky = np.array([200, 170, 140], np.float32)
    road = np.array([90, 95, 100], np.float32)
    bg = sky * (1 - yy) + road * yy + rng.normal(0, 6, (fh, fw, 3)).astype(np.float32)
    frame = np.broadcast_to(bg, (fh, fw, 3)).clip(0, 255).astype(np.uint8).copy()
    w, h = lamp_px + lamp_px // 5, 2 * lamp_px + lamp_px // 5
    x, y = fw // 2 - w // 2, fh // 4 - h // 4
    cv2.rectangle(frame, (x, y), (x + w - 1, y + h - 1), HOUSING_BGR, -1)
    cx = x + w // 2
    top_cy, bot_cy = y + h // 4, y + h - h // 4
    stop_cy, walk_cy = (bot_cy, top_cy) if swap_lamps else (top_cy, bot_cy)
    for cy in (top_cy, bot_cy):
        cv2.circle(frame, (cx, cy), lamp_px * 45 // 100, (20, 20, 22), -1)
    _hand(frame, cx, stop_cy, lamp_px * 8 // 10, _lamp_colour(stop_colour, stop_lit))
    _walker(frame, cx, walk_cy, lamp_px * 8 // 10, _lamp_colour(walk_colour, walk_lit))
    if blur_px:
        k = blur_px | 1
        frame = cv2.GaussianBlur(frame, (k, k), 0)
    if noise_sigma:
        frame = (frame + rng.normal(0, noise_sigma, frame.shape)).clip(0, 255).astype(np.uint8)
    if jpeg_quality is not None:
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        assert ok
        frame = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return Scene(frame=frame, roi=(x, y, w, h))


@pytest.fixture
def scene() -> Callable[..., Scene]:
    return draw_scene
