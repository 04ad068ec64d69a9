"""Blur faces in an evidence image: everyone's, except (optionally) the matched violator's.

Pixelate-then-blur: pixelating to a few blocks discards the detail, the Gaussian hides
the block edges. A plain blur of small kernel can be partly undone; this cannot.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.faces.detect import Faces

PAD = 0.2  # enlarge each face box by this fraction per side (hair, ears, jaw)


def face_region(
    xywh: np.ndarray, shape: tuple[int, ...], pad: float = PAD
) -> tuple[int, int, int, int]:
    """Integer ``x1, y1, x2, y2`` of the padded face box, clipped to the image."""
    x, y, w, h = (float(v) for v in xywh)
    x1, y1 = max(0, int(x - pad * w)), max(0, int(y - pad * h))
    x2, y2 = (
        min(shape[1], int(np.ceil(x + w + pad * w))),
        min(shape[0], int(np.ceil(y + h + pad * h))),
    )
    return x1, y1, x2, y2


def blur_region(image: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> None:
    """Irreversibly smear ``image[y1:y2, x1:x2]`` in place."""
    if x2 - x1 < 2 or y2 - y1 < 2:
        return
    roi = image[y1:y2, x1:x2]
    small = cv2.resize(roi, (6, 6), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)
    k = max(3, (min(x2 - x1, y2 - y1) // 4) | 1)
    image[y1:y2, x1:x2] = cv2.GaussianBlur(big, (k, k), 0)


def violator_face_index(faces: Faces, violator_xyxy: np.ndarray) -> int | None:
    """The largest face whose centre lies in the upper half of the violator's box."""
    if len(faces) == 0:
        return None
    x1, y1, x2, y2 = (float(v) for v in violator_xyxy[:4])
    c = faces.xywh[:, :2] + faces.xywh[:, 2:] / 2
    inside = (c[:, 0] >= x1) & (c[:, 0] <= x2) & (c[:, 1] >= y1) & (c[:, 1] <= y1 + 0.5 * (y2 - y1))
    if not inside.any():
        return None
    area = faces.xywh[:, 2] * faces.xywh[:, 3]
    return int(np.argmax(np.where(inside, area, -1.0)))


def blur_faces(
    image_bgr: np.ndarray, faces: Faces, keep: int | None = None
) -> tuple[np.ndarray, int]:
    """Copy of the image with every face but ``faces[keep]`` blurred; and how many were."""
    out = image_bgr.copy()
    n = 0
    for i in range(len(faces)):
        if i == keep:
            continue
        blur_region(out, *face_region(faces.xywh[i], out.shape))
        n += 1
    return out, n
