"""YOLO pre-processing end to end, through a graph that *computes* its box from the image.

``bright_box_yolo`` reports the box of pixels whose R channel (network input channel 0)
exceeds 0.5, scored by max R. A red rectangle in the BGR frame must come back at its
frame position with score 1.0: this fails if the letterbox placement or its undo is
wrong, if BGR is not swapped to RGB, if pixels are not divided by 255, or if the pad were
bright (114/255 = 0.45 stays below 0.5).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import DetectorConfig
from edge.detectors import create_detector
from edge.detectors.letterbox import PAD_VALUE, letterbox
from tests.edge.detectors.yolo_graphs import bright_box_yolo

SIZE = 320


def _frame(h: int, w: int, box: tuple[int, int, int, int], bgr: tuple[int, int, int]):
    img = np.full((h, w, 3), 40, np.uint8)
    x1, y1, x2, y2 = box
    img[y1:y2, x1:x2] = bgr
    return img


@pytest.mark.parametrize("layout", ["yolov5", "yolov8"])
@pytest.mark.parametrize(
    ("h", "w", "box"),
    [
        (480, 640, (200, 100, 300, 180)),  # landscape: pad top/bottom
        (640, 360, (20, 300, 140, 620)),  # portrait: pad left/right
        (320, 320, (0, 0, 64, 32)),  # exact size: no resize, no pad, box at the corner
        (1080, 1920, (1500, 700, 1900, 1070)),  # downscale 6x
    ],
)
def test_red_box_comes_back_at_its_frame_position(
    tmp_path: Path, layout: str, h: int, w: int, box: tuple[int, int, int, int]
) -> None:
    path = bright_box_yolo(tmp_path / "bright.onnx", layout, SIZE)
    det = create_detector(DetectorConfig(model=str(path), layout=layout, input_size=SIZE))
    found = det.detect(_frame(h, w, box, (0, 0, 255)))
    assert len(found) == 1
    assert found.scores[0] == pytest.approx(1.0, abs=1e-6)
    # One network pixel of the resized (bilinear) edge is 1/scale frame pixels.
    tol = 1.0 / min(SIZE / h, SIZE / w) + 1e-3
    np.testing.assert_allclose(found.xyxy[0], box, atol=tol)


@pytest.mark.parametrize("layout", ["yolov5", "yolov8"])
def test_blue_box_is_not_red_after_the_bgr_to_rgb_swap(tmp_path: Path, layout: str) -> None:
    path = bright_box_yolo(tmp_path / "bright.onnx", layout, SIZE)
    det = create_detector(DetectorConfig(model=str(path), layout=layout, input_size=SIZE))
    assert len(det.detect(_frame(480, 640, (200, 100, 300, 180), (255, 0, 0)))) == 0


def test_dynamic_input_size_uses_the_configured_size(tmp_path: Path) -> None:
    path = bright_box_yolo(tmp_path / "dyn.onnx", "yolov8", input_size=None)  # type: ignore[arg-type]
    det = create_detector(DetectorConfig(model=str(path), layout="yolov8", input_size=256))
    found = det.detect(_frame(480, 640, (200, 100, 300, 180), (0, 0, 255)))
    np.testing.assert_allclose(found.xyxy[0], (200, 100, 300, 180), atol=640 / 256 + 1e-3)


def test_letterbox_pads_with_114_centred_and_keeps_aspect() -> None:
    frame = np.full((100, 300, 3), 7, np.uint8)
    img, lb = letterbox(frame, 150)
    assert img.shape == (150, 150, 3)
    assert lb.scale == 0.5 and (lb.pad_x, lb.pad_y) == (0, 50)
    assert (img[:50] == PAD_VALUE).all() and (img[100:] == PAD_VALUE).all()
    assert (img[50:100] == 7).all()
    expected = cv2.resize(frame, (150, 50), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(img[50:100], expected)


def test_letterbox_undo_is_the_inverse_inside_the_frame() -> None:
    rng = np.random.default_rng(7)
    for h, w in [(480, 640), (640, 360), (577, 1031)]:
        _, lb = letterbox(np.zeros((h, w, 3), np.uint8), 416)
        xy = rng.uniform(0, 1, (50, 2)) * [w, h]
        wh = rng.uniform(0, 1, (50, 2)) * ([w, h] - xy)
        frame_boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
        net = frame_boxes * lb.scale + [lb.pad_x, lb.pad_y, lb.pad_x, lb.pad_y]
        np.testing.assert_allclose(lb.to_frame(net), frame_boxes, atol=1e-3)
