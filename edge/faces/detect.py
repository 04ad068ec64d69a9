"""YuNet face detector on onnxruntime, decoded as OpenCV's FaceDetectorYN does.

The shipped file has a fixed 1x3x640x640 BGR input (models/PROVENANCE.md): an image is
resized so its long side fits 640 and zero-padded bottom/right; coordinates are divided by
the scale afterwards. Person-box crops may be *up*-scaled (bounded) because YuNet finds
small faces far more reliably once they are tens of pixels tall.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.faces.models import open_session

INPUT = 640
STRIDES = (8, 16, 32)
NMS_IOU = 0.3


@dataclass(frozen=True, slots=True)
class Faces:
    """Faces in one image, in that image's pixels.

    Attributes:
        xywh: ``(N, 4)`` float32 boxes ``[x, y, w, h]``.
        landmarks: ``(N, 5, 2)`` float32: right eye, left eye, nose tip, right and left
            mouth corner (subject's right/left).
        scores: ``(N,)`` float32 in ``[0, 1]``.
    """

    xywh: np.ndarray
    landmarks: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> Faces:
        return cls(
            np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros(0, np.float32)
        )

    def subset(self, keep: np.ndarray) -> Faces:
        return Faces(self.xywh[keep], self.landmarks[keep], self.scores[keep])

    def shifted(self, dx: float, dy: float, scale: float = 1.0) -> Faces:
        """Coordinates mapped by ``p / scale + (dx, dy)`` (crop space → frame space)."""
        off = np.array([dx, dy], np.float32)
        xywh = self.xywh / scale
        xywh[:, :2] += off
        return Faces(xywh, self.landmarks / scale + off, self.scores)

    def cv_rows(self) -> np.ndarray:
        """OpenCV's FaceDetectorYN layout ``[x, y, w, h, 10 landmark coords, score]``."""
        return np.hstack([self.xywh, self.landmarks.reshape(-1, 10), self.scores[:, None]]).astype(
            np.float32
        )


def _grid(stride: int) -> tuple[np.ndarray, np.ndarray]:
    n = INPUT // stride
    rows, cols = np.divmod(np.arange(n * n, dtype=np.float32), n)
    return cols, rows


_GRIDS = {s: _grid(s) for s in STRIDES}


class YuNetDetector:
    """Finds faces (box, 5 landmarks, score) in BGR images with the YuNet ONNX model."""

    def __init__(self, model: str = "face_yunet_2023mar", threads: int = 1) -> None:
        self._session = open_session(model, threads)
        self._input = self._session.get_inputs()[0].name
        self._outputs = [o.name for o in self._session.get_outputs()]

    def detect(
        self, image_bgr: np.ndarray, score_threshold: float = 0.7, max_upscale: float = 1.0
    ) -> Faces:
        """Faces in the whole image; long side scaled to 640 (up by at most ``max_upscale``)."""
        h, w = image_bgr.shape[:2]
        if h == 0 or w == 0:
            return Faces.empty()
        scale = min(INPUT / max(h, w), max_upscale)
        if scale != 1.0:
            nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            resized = cv2.resize(image_bgr, (nw, nh), interpolation=interp)
        else:
            resized = image_bgr
        canvas = np.zeros((INPUT, INPUT, 3), np.float32)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        blob = canvas.transpose(2, 0, 1)[None]
        out = dict(zip(self._outputs, self._session.run(None, {self._input: blob}), strict=True))
        return self._decode(out, score_threshold).shifted(0.0, 0.0, scale)

    def detect_in_box(
        self,
        frame_bgr: np.ndarray,
        xyxy: np.ndarray,
        score_threshold: float = 0.7,
        max_upscale: float = 3.0,
        pad: float = 0.1,
    ) -> Faces:
        """Faces inside a (slightly enlarged) box of the full-resolution frame, in frame pixels.

        Only faces whose centre lies inside the original box are returned, so a bystander
        who merely overlaps the enlarged crop is not taken for the violator.
        """
        h, w = frame_bgr.shape[:2]
        x1, y1, x2, y2 = (float(v) for v in xyxy[:4])
        bw, bh = x2 - x1, y2 - y1
        cx1, cy1 = max(0, int(x1 - pad * bw)), max(0, int(y1 - pad * bh))
        cx2, cy2 = min(w, int(np.ceil(x2 + pad * bw))), min(h, int(np.ceil(y2 + pad * bh)))
        if cx2 - cx1 < 8 or cy2 - cy1 < 8:
            return Faces.empty()
        faces = self.detect(frame_bgr[cy1:cy2, cx1:cx2], score_threshold, max_upscale)
        faces = faces.shifted(cx1, cy1)
        centre = faces.xywh[:, :2] + faces.xywh[:, 2:] / 2
        inside = (
            (centre[:, 0] >= x1)
            & (centre[:, 0] <= x2)
            & (centre[:, 1] >= y1)
            & (centre[:, 1] <= y2)
        )
        return faces.subset(inside)

    def detect_tiled(self, image_bgr: np.ndarray, score_threshold: float = 0.5) -> Faces:
        """Faces anywhere in a large frame: whole-frame pass plus native-resolution tiles.

        A 1920-px frame squeezed into 640 px shrinks faces threefold and small ones vanish;
        anonymisation must not miss them, so big frames are also scanned in overlapping
        640-px tiles and the results merged by NMS.
        """
        h, w = image_bgr.shape[:2]
        found = [self.detect(image_bgr, score_threshold)]
        if max(h, w) > INPUT * 1.25:
            step = INPUT - 128
            for y in range(0, max(1, h - 128), step):
                for x in range(0, max(1, w - 128), step):
                    tile = image_bgr[y : y + INPUT, x : x + INPUT]
                    found.append(self.detect(tile, score_threshold).shifted(x, y))
        if len(found) == 1:
            return found[0]
        xywh = np.concatenate([f.xywh for f in found])
        lm = np.concatenate([f.landmarks for f in found])
        sc = np.concatenate([f.scores for f in found])
        if len(sc) == 0:
            return Faces.empty()
        idx = cv2.dnn.NMSBoxes(
            xywh.astype(np.int32).tolist(), sc.tolist(), score_threshold, NMS_IOU
        )
        return Faces(xywh, lm, sc).subset(np.asarray(idx, np.int64).reshape(-1))

    @staticmethod
    def _decode(out: dict[str, np.ndarray], score_threshold: float) -> Faces:
        boxes, kps, scores = [], [], []
        for s in STRIDES:
            cls = np.clip(out[f"cls_{s}"][0, :, 0], 0, 1)
            obj = np.clip(out[f"obj_{s}"][0, :, 0], 0, 1)
            score = np.sqrt(cls * obj)
            keep = score >= score_threshold
            if not keep.any():
                continue
            cols, rows = _GRIDS[s][0][keep], _GRIDS[s][1][keep]
            b = out[f"bbox_{s}"][0][keep]
            k = out[f"kps_{s}"][0][keep].reshape(-1, 5, 2)
            cx, cy = (cols + b[:, 0]) * s, (rows + b[:, 1]) * s
            bw, bh = np.exp(b[:, 2]) * s, np.exp(b[:, 3]) * s
            boxes.append(np.stack([cx - bw / 2, cy - bh / 2, bw, bh], axis=1))
            kps.append(
                np.stack([(cols[:, None] + k[..., 0]) * s, (rows[:, None] + k[..., 1]) * s], -1)
            )
            scores.append(score[keep])
        if not boxes:
            return Faces.empty()
        xywh = np.concatenate(boxes).astype(np.float32)
        lm = np.concatenate(kps).astype(np.float32)
        sc = np.concatenate(scores).astype(np.float32)
        # OpenCV NMS on integer-truncated boxes, as FaceDetectorYN does.
        idx = cv2.dnn.NMSBoxes(
            xywh.astype(np.int32).tolist(), sc.tolist(), score_threshold, NMS_IOU
        )
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        return Faces(xywh[idx], lm[idx], sc[idx])
