"""Blur faces in an evidence image: everyone's, except (optionally) the matched violator's.

Pixelate-then-blur: pixelating to a few blocks discards the detail, the Gaussian hides
the block edges. A plain blur of small kernel can be partly undone; this cannot.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.faces.config import FacesConfig
from edge.faces.detect import Faces, YuNetDetector

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


def blur_everything(image_bgr: np.ndarray) -> np.ndarray:
    """Copy of the image smeared all over: what evidence gets when face detection itself
    failed (no face may go out unblurred because the detector broke)."""
    h, w = image_bgr.shape[:2]
    # Down to 1/16 (a face becomes a few samples), back up smoothly, then a Gaussian so no
    # block edge is left: people and the signal stay visible as shapes, faces do not.
    small = cv2.resize(image_bgr, (max(1, w // 16), max(1, h // 16)), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(big, (31, 31), 0)


class FaceBlurrer:
    """Finds every face in a whole image and blurs all but a matched violator's.

    Detection only, never identification: it runs whether or not the camera's face stage
    (identification) is enabled, so switching identification off never switches privacy
    off. Its YuNet session is its own (onnxruntime sessions are safe to call from the
    evidence thread while the frame loop uses the identification stage's).
    """

    def __init__(self, detector: YuNetDetector, score: float = 0.5) -> None:
        self.detector = detector
        self.score = score

    @classmethod
    def from_config(cls, cfg: FacesConfig) -> FaceBlurrer:
        return cls(YuNetDetector(cfg.detector_model, cfg.threads), cfg.anonymise_score)

    def anonymise(
        self, image_bgr: np.ndarray, violator_xyxy: np.ndarray | None, keep_violator_face: bool
    ) -> tuple[np.ndarray, int]:
        """Every face blurred except, when ``keep_violator_face``, the violator's; and how
        many were. ``keep_violator_face`` is True only for a matched violator."""
        faces = self.detector.detect_tiled(image_bgr, self.score)
        keep = None
        if keep_violator_face and violator_xyxy is not None:
            keep = violator_face_index(faces, np.asarray(violator_xyxy))
        return blur_faces(image_bgr, faces, keep)
