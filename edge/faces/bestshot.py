"""Best-shot buffer: the few best faces of each flagged track, kept until the decision.

Only a small crop around each face is kept (not the frame), and embeddings are computed
at decision time for the kept faces only: a track seen for 100 frames costs at most
``max_faces_per_track`` embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.faces.quality import FaceQuality

CROP_PAD = 0.5  # context kept around the face box (alignment needs some margin)
MAX_CROP_FACE_PX = 224  # faces taller than this are stored downscaled


@dataclass(frozen=True, slots=True)
class FaceShot:
    crop_bgr: np.ndarray  # region around the face
    xywh: np.ndarray  # face box in crop pixels
    landmarks: np.ndarray  # (5, 2) in crop pixels
    quality: FaceQuality
    t: float

    @classmethod
    def from_frame(
        cls,
        frame_bgr: np.ndarray,
        xywh: np.ndarray,
        landmarks: np.ndarray,
        quality: FaceQuality,
        t: float,
    ) -> FaceShot:
        h, w = frame_bgr.shape[:2]
        x, y, bw, bh = (float(v) for v in xywh)
        x1, y1 = max(0, int(x - CROP_PAD * bw)), max(0, int(y - CROP_PAD * bh))
        x2, y2 = (
            min(w, int(np.ceil(x + bw * (1 + CROP_PAD)))),
            min(h, int(np.ceil(y + bh * (1 + CROP_PAD)))),
        )
        crop = frame_bgr[y1:y2, x1:x2].copy()
        off = np.array([x1, y1], np.float32)
        box = np.array([x - x1, y - y1, bw, bh], np.float32)
        lm = landmarks.astype(np.float32) - off
        s = MAX_CROP_FACE_PX / max(bw, bh)
        if s < 1:
            crop = cv2.resize(
                crop,
                (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))),
                interpolation=cv2.INTER_AREA,
            )
            box, lm = box * s, lm * s
        return cls(crop, box, lm, quality, t)

    def face_jpeg(self, quality: int = 90) -> bytes:
        """JPEG of the padded face (the evidence crop of a matched violator)."""
        x, y, w, h = self.xywh
        ch, cw = self.crop_bgr.shape[:2]
        x1, y1 = max(0, int(x - 0.2 * w)), max(0, int(y - 0.2 * h))
        x2, y2 = min(cw, int(np.ceil(x + 1.2 * w))), min(ch, int(np.ceil(y + 1.2 * h)))
        ok, buf = cv2.imencode(
            ".jpg", self.crop_bgr[y1:y2, x1:x2], [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
        if not ok:  # pragma: no cover - cv2 encodes any non-empty uint8 image
            raise RuntimeError("JPEG encoding failed")
        return buf.tobytes()


@dataclass
class TrackFaces:
    """The faces kept for one flagged track."""

    first_t: float
    shots: list[FaceShot] = field(default_factory=list)
    seen: int = 0  # faces detected in the person box
    rejected: int = 0  # of which failed the quality gate

    def offer(self, shot: FaceShot, capacity: int) -> None:
        """Keep ``shot`` if it is among the ``capacity`` best by weight."""
        self.shots.append(shot)
        self.shots.sort(key=lambda s: s.quality.weight, reverse=True)
        del self.shots[capacity:]
