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


@cache
def _face_scene_script():  # -> the make_face_scene module (its walkers and sprites)
    import importlib.util

    path = REPO / "sample_media" / "faces" / "make_face_scene.py"
    spec = importlib.util.spec_from_file_location("make_face_scene", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@cache
def face_scene_true_box(walker: str, frame: int) -> tuple[float, float, float, float] | None:
    """Ground truth from the face scene's own script: the box of ``walker`` ("A" or "B")
    pasted on ``frame`` (what sample_media/faces/make_face_scene.py drew), clipped to the
    picture; None when the walker is not in the picture."""
    m = _face_scene_script()
    photo_name, keys = m.WALKERS[walker]
    st = m.state(keys, frame / m.FPS)
    if st is None:
        return None
    fx, fy, h = st
    fy += 2.0 * np.sin(2 * np.pi * 1.8 * frame / m.FPS)  # the script's gait bob
    sf = _face_scene_sprite(photo_name)
    s = h / sf.alpha.shape[0]
    w_new, h_new = max(1, round(sf.bgr.shape[1] * s)), max(1, round(h))
    x0, y0 = round(fx - w_new / 2), round(fy - h_new)
    W, H = m.SIZE
    x1, y1, x2, y2 = max(0, x0), max(0, y0), min(W, x0 + w_new), min(H, y0 + h_new)
    return None if x1 >= x2 or y1 >= y2 else (float(x1), float(y1), float(x2), float(y2))


@cache
def _face_scene_sprite(photo_name: str):
    m = _face_scene_script()
    return m.cut_out(cv2.imread(str(PHOTOS / f"{photo_name}.jpg")))
