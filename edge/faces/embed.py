"""Face embeddings behind one interface; two backends chosen in config.

* ``sface``: OpenCV Zoo SFace ONNX (onnxruntime), 112x112 RGB crop aligned to the 5-point
  template, 128-d.
* ``dlib``: the ``face_recognition`` package (dlib ResNet, 128-d), aligned by dlib's own
  5-point shape predictor inside the YuNet box.

Both return L2-normalised float32 vectors compared by cosine similarity. Every embedder
names its backend and the sha256 of its weights: the gallery records both and the matcher
refuses to compare vectors from a different backend or model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from edge.faces.align import align_112
from edge.faces.models import file_sha256, open_session, resolve


@runtime_checkable
class Embedder(Protocol):
    backend: str
    dim: int
    model_sha256: str

    def embed(self, image_bgr: np.ndarray, xywh: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Unit-length ``(dim,)`` float32 embedding of the face at ``xywh``/``landmarks``."""
        ...


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32).reshape(-1)
    n = float(np.linalg.norm(v))
    if not np.isfinite(n) or n == 0:
        raise ValueError("embedding has zero or non-finite length")
    return v / n


class SFaceEmbedder:
    """SFace on onnxruntime. Feeds RGB, 0–255: the graph normalises itself (PROVENANCE)."""

    backend = "sface"
    dim = 128

    def __init__(self, model: str = "face_sface_2021dec", threads: int = 1) -> None:
        path = resolve(model)
        self.model_sha256 = file_sha256(path)
        self._session = open_session(model, threads)
        self._input = self._session.get_inputs()[0].name

    def embed(self, image_bgr: np.ndarray, xywh: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        crop = align_112(image_bgr, landmarks)
        rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)
        (out,) = self._session.run(None, {self._input: rgb.transpose(2, 0, 1)[None]})
        return _unit(out)


class DlibEmbedder:
    """face_recognition's dlib ResNet (``face_encodings``) on the YuNet box."""

    backend = "dlib"
    dim = 128

    def __init__(self, num_jitters: int = 1) -> None:
        try:
            import face_recognition
            import face_recognition_models
        except ImportError as e:  # the package is installed with --no-deps (scripts/setup.sh)
            raise RuntimeError(
                "backend 'dlib' needs face_recognition: "
                "pip install --no-deps face-recognition==1.3.0 (see notes/models.md)"
            ) from e
        self._fr = face_recognition
        weights = Path(face_recognition_models.face_recognition_model_location())
        self.model_sha256 = file_sha256(weights)
        self._jitters = num_jitters

    def embed(self, image_bgr: np.ndarray, xywh: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        h, w = image_bgr.shape[:2]
        x, y, bw, bh = (float(v) for v in xywh)
        # dlib's boxes are square and tighter than YuNet's tall ones: a square on the centre.
        side = 0.85 * min(bw, bh)
        cx, cy = x + bw / 2, y + bh / 2 + 0.05 * bh
        top, bottom = max(0, round(cy - side / 2)), min(h, round(cy + side / 2))
        left, right = max(0, round(cx - side / 2)), min(w, round(cx + side / 2))
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        enc = self._fr.face_encodings(
            rgb, known_face_locations=[(top, right, bottom, left)], num_jitters=self._jitters
        )
        return _unit(enc[0])


def make_embedder(
    backend: str, sface_model: str = "face_sface_2021dec", threads: int = 1
) -> Embedder:
    if backend == "sface":
        return SFaceEmbedder(sface_model, threads)
    if backend == "dlib":
        return DlibEmbedder()
    raise ValueError(f"unknown face backend {backend!r}; expected 'sface' or 'dlib'")
