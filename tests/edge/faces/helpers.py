"""Shared test material: the real photos in sample_media/faces and frames built from them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[3]
PHOTOS = REPO / "sample_media" / "faces" / "photos"


def photo(name: str) -> np.ndarray:
    img = cv2.imread(str(PHOTOS / f"{name}.jpg"), cv2.IMREAD_COLOR)
    assert img is not None, f"missing sample photo {name}"
    return img


@cache
def background(h: int = 720, w: int = 1280, seed: int = 0) -> np.ndarray:
    """A textured street-grey frame (texture so blur checks are not trivially flat)."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(50, 140, (h, w, 3), dtype=np.uint8)
    return cv2.GaussianBlur(bg, (5, 5), 0)


def paste(frame: np.ndarray, img: np.ndarray, x: int, y: int, height: int) -> np.ndarray:
    """Paste ``img`` scaled to ``height`` at (x, y); returns its box ``[x1, y1, x2, y2]``."""
    w = round(img.shape[1] * height / img.shape[0])
    frame[y : y + height, x : x + w] = cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA)
    return np.array([x, y, x + w, y + height], np.float32)


def walking_frames(name: str, n: int = 6, height: int = 300, bystander: str | None = None):
    """Frames of a portrait moving right (and growing a little), like a track; yields
    ``(frame, person_xyxy, t)``. An optional bystander stands still on the right."""
    img = photo(name)
    other = photo(bystander) if bystander else None
    for i in range(n):
        frame = background().copy()
        if other is not None:
            paste(frame, other, 1000, 150, 320)
        box = paste(frame, img, 60 + 110 * i, 200 - 5 * i, height + 8 * i)
        yield frame, box, 0.1 * i


def laplacian_energy(img: np.ndarray, xyxy: np.ndarray) -> float:
    x1, y1, x2, y2 = (int(v) for v in xyxy)
    grey = cv2.cvtColor(img[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())
