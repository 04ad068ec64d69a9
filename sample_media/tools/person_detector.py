"""The project's pedestrian SSD run directly with onnxruntime.

The generators use it only to check that the people in the sample videos are findable
by the detector the edge uses (models/PROVENANCE.md gives the input/output layout); the
edge's own detector module is not imported so the sample media do not depend on it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

MODEL = Path(__file__).resolve().parents[2] / "models" / "pedestrian_ssdlite_mnv2.onnx"


class PersonDetector:
    """SSDLite-MobileNetV2 pedestrian detector (class 1), boxes in frame pixels."""

    def __init__(self, model: Path = MODEL, threshold: float = 0.5) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        self._sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        self.threshold = threshold

    def __call__(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Return an (N, 5) array of [x0, y0, x1, y1, score] with score >= threshold."""
        h, w = frame_bgr.shape[:2]
        x = cv2.cvtColor(cv2.resize(frame_bgr, (300, 300)), cv2.COLOR_BGR2RGB)[None]
        _, boxes, scores, classes = self._sess.run(None, {"image_tensor:0": x})
        keep = (scores[0] >= self.threshold) & (classes[0] == 1)
        b = boxes[0][keep]
        out = np.stack([b[:, 1] * w, b[:, 0] * h, b[:, 3] * w, b[:, 2] * h, scores[0][keep]], 1)
        return out.astype(np.float32).reshape(-1, 5)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box in ``a`` (N, >=4) and every box in ``b`` (M, >=4) → (N, M)."""
    a = np.asarray(a, np.float32)[:, None, :4]
    b = np.asarray(b, np.float32)[None, :, :4]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-6)
