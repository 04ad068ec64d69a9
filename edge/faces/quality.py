"""Quality gate for one detected face: size, sharpness and landmark (pose) sanity.

Sharpness is the variance of the Laplacian on the face resized to a fixed 64 px height, so
the number means the same for a near and a far face (a bigger face would otherwise always
look "sharper").
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SHARP_H = 64


@dataclass(frozen=True, slots=True)
class FaceQuality:
    size_px: float  # face (YuNet box) height, the measure docs/face-accuracy.md uses
    sharpness: float  # variance of Laplacian at 64 px height
    frontal: float  # 1 = eyes level, nose centred between them; 0 = profile or garbage
    ok: bool
    reason: str  # "" when ok

    @property
    def weight(self) -> float:
        """How much this face counts when a track's faces are combined."""
        size = min(self.size_px, 112.0) / 112.0
        sharp = min(self.sharpness, 200.0) / 200.0
        return float(size * (0.5 + 0.5 * sharp) * self.frontal)


def frontal_score(landmarks: np.ndarray) -> float:
    """0..1 from the 5 landmarks: eyes above nose above mouth, nose between the eyes.

    A profile face puts the nose near one eye; an upside-down or broken detection breaks
    the vertical order. Both embed badly, so they must not decide anything.
    """
    re, le, nose, rm, lm = landmarks.astype(np.float64)
    eye_dx = le[0] - re[0]
    if eye_dx <= 1.0:
        return 0.0
    eye_y, mouth_y = (re[1] + le[1]) / 2, (rm[1] + lm[1]) / 2
    if not (eye_y < nose[1] < mouth_y):
        return 0.0
    # Yaw proxy: where the nose sits between the eyes (0.5 = centred).
    t = (nose[0] - re[0]) / eye_dx
    yaw = 1.0 - min(1.0, abs(t - 0.5) * 2.0)
    # Roll: eye line slope.
    roll = 1.0 - min(1.0, abs(np.arctan2(le[1] - re[1], eye_dx)) / (np.pi / 4))
    return float(np.clip(yaw, 0, 1) * np.clip(roll, 0, 1))


def sharpness(image_bgr: np.ndarray, xywh: np.ndarray) -> float:
    h, w = image_bgr.shape[:2]
    x, y, bw, bh = xywh
    x1, y1 = max(0, int(x)), max(0, int(y))
    x2, y2 = min(w, int(np.ceil(x + bw))), min(h, int(np.ceil(y + bh)))
    if x2 - x1 < 4 or y2 - y1 < 4:
        return 0.0
    grey = cv2.cvtColor(image_bgr[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
    s = SHARP_H / grey.shape[0]
    grey = cv2.resize(
        grey, (max(4, round(grey.shape[1] * s)), SHARP_H), interpolation=cv2.INTER_AREA
    )
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def assess(
    image_bgr: np.ndarray,
    xywh: np.ndarray,
    landmarks: np.ndarray,
    min_face_px: int,
    min_sharpness: float,
    min_frontal: float = 0.3,
) -> FaceQuality:
    size = float(xywh[3])
    sharp = sharpness(image_bgr, xywh)
    front = frontal_score(landmarks)
    reason = ""
    if size < min_face_px:
        reason = f"face {size:.0f} px < min_face_px {min_face_px}"
    elif sharp < min_sharpness:
        reason = f"sharpness {sharp:.1f} < min_sharpness {min_sharpness}"
    elif front < min_frontal:
        reason = f"pose: frontal score {front:.2f} < {min_frontal}"
    return FaceQuality(size, sharp, front, reason == "", reason)
