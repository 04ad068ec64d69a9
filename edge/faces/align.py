"""Align a face to SFace's 112x112 five-point template (a similarity transform).

Same template and warp as ``cv2.FaceRecognizerSF.alignCrop`` (models/PROVENANCE.md); done
here so the recogniser can run in onnxruntime and the crop can be kept without the image.
"""

from __future__ import annotations

import cv2
import numpy as np

TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    np.float32,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) src → dst (Umeyama)."""
    src = src.astype(np.float64)
    dst = dst.astype(np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1
    r = u @ np.diag(d) @ vt
    var_s = (s0**2).sum() / len(src)
    scale = (sig * d).sum() / var_s
    t = mu_d - scale * r @ mu_s
    return np.hstack([scale * r, t[:, None]]).astype(np.float32)


def align_112(image_bgr: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """112x112 BGR crop with the 5 landmarks moved onto the template (bilinear)."""
    m = similarity_transform(landmarks.reshape(5, 2), TEMPLATE_112)
    return cv2.warpAffine(image_bgr, m, (112, 112), flags=cv2.INTER_LINEAR)
