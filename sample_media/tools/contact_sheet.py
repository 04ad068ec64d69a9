"""A contact sheet per scene: frames with zone, signal ROI and ground-truth foot points.

Lets a person check the annotation at a glance without running anything.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tools.scene_files import Scene


def annotate(frame: np.ndarray, scene: Scene, index: int) -> np.ndarray:
    """Draw zone (red), ROI (yellow) and every GT point belonging to ``index``."""
    img = frame.copy()
    cam = scene.camera
    cv2.polylines(img, [np.array(cam.zone, np.int32)], True, (0, 0, 255), 2, cv2.LINE_AA)
    x, y, w, h = cam.roi
    cv2.rectangle(img, (x - 2, y - 2), (x + w + 1, y + h + 1), (0, 255, 255), 1)
    t = index / scene.fps
    phase = scene.schedule.phase_at(t)
    since = scene.schedule.red_since(t)
    label = f"frame {index}  t={t:.1f}s  {phase}" + (
        f" for {t - since:.1f}s" if since is not None else ""
    )
    cv2.rectangle(img, (0, 0), (img.shape[1], 26), (0, 0, 0), -1)
    cv2.putText(img, label, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    marks = [
        (v.foot_xy, v.id, (0, 0, 255), "VIOLATION") for v in scene.violations if v.frame == index
    ]
    marks += [
        (n.foot_xy, n.id, (0, 200, 0), n.case) for n in scene.non_violations if n.frame == index
    ]
    for k, (xy, name, colour, what) in enumerate(marks):
        p = (round(float(xy[0])), round(float(xy[1])))
        cv2.drawMarker(img, p, colour, cv2.MARKER_CROSS, 16, 2)
        cv2.circle(img, p, 9, (255, 255, 255), 1, cv2.LINE_AA)
        text = f"{name}: {what}"
        org = (min(p[0] + 10, img.shape[1] - 8 * len(text)), p[1] + 18 + 16 * (k % 2))
        cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return img


def sheet_frames(scene: Scene) -> list[int]:
    """The frames worth showing: every GT moment, in time order, without duplicates."""
    idx = {v.frame for v in scene.violations}
    idx |= {n.frame for n in scene.non_violations if n.frame is not None}
    return sorted(idx)


def write_contact_sheet(
    frames: dict[int, np.ndarray],
    scene: Scene,
    path: Path,
    cols: int = 3,
    scale: float = 0.6,
    crop: tuple[int, int, int, int] | None = None,
) -> Path:
    """Tile the annotated ``frames``; ``crop`` = (x0, y0, x1, y1) keeps the part that matters."""
    x0, y0, x1, y1 = crop or (0, 0, scene.size[0], scene.size[1])
    tiles = []
    for i in sorted(frames):
        img = annotate(frames[i], scene, i)
        label = img[:26, : x1 - x0].copy()
        img = img[y0:y1, x0:x1].copy()
        img[:26] = label
        tiles.append(cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[r : r + cols]) for r in range(0, len(tiles), cols)]
    cv2.imwrite(str(path), np.vstack(rows), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return path
