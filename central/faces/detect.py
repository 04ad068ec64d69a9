"""YuNet (models/face_yunet_2023mar.onnx) on onnxruntime with Pillow and numpy.

The model's input is fixed at 1x3x640x640 BGR 0-255 (models/README.md): the image is
scaled so its long side is 640 and zero-padded bottom/right; boxes are divided by the
scale afterwards. Decoded as OpenCV's FaceDetectorYN does (score = sqrt(cls * obj),
centre offsets and log sizes per stride cell), then non-maximum suppression.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

MODEL_NAME = "face_yunet_2023mar"
INPUT = 640
STRIDES = (8, 16, 32)
NMS_IOU = 0.3


class FaceModelError(RuntimeError):
    """The face model file is missing or not the one the manifest names."""


@dataclass(frozen=True)
class Face:
    """One face in image pixels: box ``(x, y, w, h)`` and score in [0, 1]."""

    x: float
    y: float
    w: float
    h: float
    score: float


def models_dir() -> Path:
    """``JAYWATCH_MODELS_DIR``, else ``models/`` at the repository root."""
    env = os.environ.get("JAYWATCH_MODELS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "models"


def model_path() -> Path:
    """The YuNet file, checked against its sha256 in the models manifest.

    Raises:
        FaceModelError: one line naming the file and what was expected.
    """
    d = models_dir()
    manifest = d / "manifest.json"
    try:
        entry = json.loads(manifest.read_text())["models"][MODEL_NAME]
    except (OSError, ValueError, KeyError) as e:
        raise FaceModelError(
            f"{manifest}: expected a models manifest naming {MODEL_NAME} "
            f"(set JAYWATCH_MODELS_DIR to the models directory): {e}"
        ) from None
    path = d / entry["file"]
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        raise FaceModelError(f"{path}: face model file not readable: {e}") from None
    if digest != entry["sha256"]:
        raise FaceModelError(f"{path}: sha256 {digest}, expected {entry['sha256']} (manifest)")
    return path


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _session():  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # uploads are rare; never take a core from ingest
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(
        str(model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
    )


def _grid(stride: int) -> tuple[np.ndarray, np.ndarray]:
    n = INPUT // stride
    rows, cols = np.divmod(np.arange(n * n, dtype=np.float32), n)
    return cols, rows


def _nms(xywh: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    order = list(np.argsort(-scores))
    keep: list[int] = []
    x1, y1 = xywh[:, 0], xywh[:, 1]
    x2, y2 = x1 + xywh[:, 2], y1 + xywh[:, 3]
    area = xywh[:, 2] * xywh[:, 3]
    while order:
        i = order.pop(0)
        keep.append(int(i))
        rest = np.array(order, dtype=np.int64)
        if not len(rest):
            break
        iw = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        ih = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = iw * ih
        over = inter / np.maximum(area[i] + area[rest] - inter, 1e-6)
        order = [int(j) for j, o in zip(rest, over, strict=True) if o <= iou]
    return keep


def detect(image: Image.Image, score_threshold: float = 0.7) -> list[Face]:
    """Faces in ``image`` (any mode), best first."""
    rgb = image.convert("RGB")
    w, h = rgb.size
    if w == 0 or h == 0:
        return []
    scale = INPUT / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = rgb.resize((nw, nh), Image.Resampling.BILINEAR)
    canvas = np.zeros((INPUT, INPUT, 3), np.float32)
    canvas[:nh, :nw] = np.asarray(resized, np.float32)[..., ::-1]  # RGB -> BGR
    blob = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None])
    sess = _session()
    with _lock:  # one inference at a time: the session is shared by request threads
        outs = sess.run(None, {sess.get_inputs()[0].name: blob})
    out = dict(zip([o.name for o in sess.get_outputs()], outs, strict=True))
    boxes, scores = [], []
    for s in STRIDES:
        score = np.sqrt(
            np.clip(out[f"cls_{s}"][0, :, 0], 0, 1) * np.clip(out[f"obj_{s}"][0, :, 0], 0, 1)
        )
        keep = score >= score_threshold
        if not keep.any():
            continue
        cols, rows = (g[keep] for g in _grid(s))
        b = out[f"bbox_{s}"][0][keep]
        cx, cy = (cols + b[:, 0]) * s, (rows + b[:, 1]) * s
        bw, bh = np.exp(b[:, 2]) * s, np.exp(b[:, 3]) * s
        boxes.append(np.stack([cx - bw / 2, cy - bh / 2, bw, bh], axis=1))
        scores.append(score[keep])
    if not boxes:
        return []
    xywh = np.concatenate(boxes) / scale
    sc = np.concatenate(scores)
    return [Face(*(float(v) for v in xywh[i]), score=float(sc[i])) for i in _nms(xywh, sc, NMS_IOU)]
