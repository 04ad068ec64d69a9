"""Central's face detector (YuNet on onnxruntime without OpenCV) on the real enrolled
gallery photos of sample_media: it finds the face the edge's detector finds, and the
crop is framed like the gateway's evidence crop (face box + 0.2 of it on each side)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from central.faces import detect as central_detect
from central.faces.crop import PAD, crop_face
from tests.central.helpers import REPO

GALLERY = REPO / "sample_media" / "faces" / "photos"
PORTRAITS = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.jpg"]


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@pytest.mark.parametrize("name", PORTRAITS)
def test_central_detector_finds_the_face_the_edge_detector_finds(name: str) -> None:
    import cv2

    from edge.faces.detect import YuNetDetector  # the reference implementation

    path = GALLERY / name
    edge_faces = YuNetDetector().detect(cv2.imread(str(path)))
    with Image.open(path) as im:
        ours = central_detect.detect(im)
    assert len(edge_faces) >= 1 and len(ours) >= 1
    best_edge = tuple(float(v) for v in edge_faces.xywh[int(np.argmax(edge_faces.scores))])
    best = max(ours, key=lambda f: f.score)
    # Resampling differs (Pillow vs OpenCV), so boxes agree closely, not bit for bit.
    assert _iou((best.x, best.y, best.w, best.h), best_edge) > 0.85, (best, best_edge)


@pytest.mark.parametrize("name", PORTRAITS)
def test_crop_is_the_padded_face(name: str) -> None:
    data = (GALLERY / name).read_bytes()
    crop = crop_face(data)
    assert crop is not None
    _x, _y, w, h = crop.box
    with Image.open(io.BytesIO(crop.jpeg)) as c, Image.open(GALLERY / name) as full:
        cw, ch = c.size
        fw, fh = full.size
    # The face fills 1 / (1 + 2 PAD) of the crop unless the crop met the photo's edge.
    assert cw <= round(w * (1 + 2 * PAD)) + 2 and ch <= round(h * (1 + 2 * PAD)) + 2
    assert cw * ch < fw * fh / 3  # the face, not the portrait
    assert cw >= w and ch >= h


def test_no_face_and_not_an_image() -> None:
    empty_road = REPO / "sample_media" / "photos" / "vtest_0400.jpg"  # people far away
    assert crop_face(empty_road.read_bytes()) is None
    with pytest.raises(ValueError, match="not a readable image"):
        crop_face(b"\x00" * 100)


def test_a_wrong_model_file_is_refused_with_its_name(tmp_path, monkeypatch) -> None:
    (tmp_path / "manifest.json").write_text((REPO / "models" / "manifest.json").read_text())
    (tmp_path / "face_yunet_2023mar.onnx").write_bytes(b"not the model")
    monkeypatch.setenv("JAYWATCH_MODELS_DIR", str(tmp_path))
    with pytest.raises(central_detect.FaceModelError, match=r"face_yunet_2023mar\.onnx: sha256"):
        central_detect.model_path()
