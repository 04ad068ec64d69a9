"""YOLO plugin on real ONNX graphs run by onnxruntime (built in yolo_graphs.py).

Frame 640x480 into a 320 input: scale 0.5, no horizontal pad, 40 px pad top and bottom,
so a network box (x1, y1, x2, y2) maps to frame (2·x1, 2·(y1−40), 2·x2, 2·(y2−40)).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.config import DetectorConfig
from edge.detectors import Detector, create_detector
from edge.detectors.model_io import ModelLayoutError
from edge.model_files import ModelFileError
from tests.edge.detectors.yolo_graphs import constant_yolo

FRAME = np.zeros((480, 640, 3), np.uint8)
N_BOXES = 16

# cx, cy, w, h (network pixels), objectness, class scores (person=0, bicycle=1, other=2)
ROWS = {
    "A": [100, 120, 40, 80, 0.9, 0.9, 0.1, 0.1],  # person 0.81
    "A_dup": [104, 124, 40, 80, 0.8, 0.8, 0.1, 0.1],  # same person, IoU 0.747 with A: 0.64
    "B": [250, 150, 30, 60, 0.9, 0.2, 0.95, 0.1],  # best class 1: not a person
    "C": [200, 200, 20, 40, 0.3, 0.9, 0.0, 0.0],  # person, but 0.27 < threshold
    "D": [250, 100, 30, 60, 0.95, 0.1, 0.1, 0.9],  # class 2: 0.855
    "E": [100, 120, 40, 80, 0.9, 0.1, 0.1, 0.8],  # class 2 on top of A: 0.72
    "F": [300, 50, 40, 40, 1.0, 0.99, 0.0, 0.0],  # person 0.99, reaches into the top pad
}
FRAME_BOX = {  # expected frame pixels, worked out by hand from the mapping above
    "A": [160, 80, 240, 240],
    "A_dup": [168, 88, 248, 248],
    "D": [470, 60, 530, 180],
    "E": [160, 80, 240, 240],
    "F": [560, 0, 640, 60],  # y1 = 2·(30−40) = −20, clipped to 0
}
SCORE = {"A": 0.81, "A_dup": 0.64, "D": 0.855, "E": 0.72, "F": 0.99}


def v5_head() -> np.ndarray:
    head = np.zeros((1, N_BOXES, 8), np.float32)
    head[0, : len(ROWS)] = list(ROWS.values())
    return head


def v8_head() -> np.ndarray:
    """Same candidates in v8 layout: no objectness, class score = obj × cls of v5."""
    rows = v5_head()[0]
    v8 = np.concatenate([rows[:, :4], rows[:, 5:] * rows[:, 4:5]], axis=1)
    return v8.T[None].copy()


def _detector(path: Path, layout: str, **kw: object) -> Detector:
    cfg = DetectorConfig(model=str(path), layout=layout, input_size=320, **kw)  # type: ignore[arg-type]
    return create_detector(cfg)


def _assert_found(det: object, names: list[str]) -> None:
    assert len(det) == len(names)  # type: ignore[arg-type]
    np.testing.assert_allclose(det.xyxy, [FRAME_BOX[n] for n in names], atol=1e-3)  # type: ignore[attr-defined]
    np.testing.assert_allclose(det.scores, [SCORE[n] for n in names], atol=1e-5)  # type: ignore[attr-defined]


@pytest.fixture(params=["yolov5", "yolov8"])
def head_model(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    head = v5_head() if request.param == "yolov5" else v8_head()
    return request.param, constant_yolo(tmp_path / f"{request.param}.onnx", head)


def test_person_only_nms_and_letterbox_undo(head_model: tuple[str, Path]) -> None:
    layout, path = head_model
    det = _detector(path, layout).detect(FRAME)
    # B (bicycle), C (below threshold), D/E (class 2) dropped; A_dup suppressed by A.
    _assert_found(det, ["F", "A"])
    assert det.class_ids.tolist() == [0, 0]


def test_several_person_classes_do_not_suppress_each_other(head_model: tuple[str, Path]) -> None:
    layout, path = head_model
    det = _detector(path, layout, person_class_ids=[0, 2]).detect(FRAME)
    # E overlaps A completely but is another class: both stay.
    _assert_found(det, ["F", "D", "A", "E"])
    assert det.class_ids.tolist() == [0, 2, 0, 2]


def test_nms_iou_from_config_is_used(head_model: tuple[str, Path]) -> None:
    layout, path = head_model
    det = _detector(path, layout, nms_iou=0.8).detect(FRAME)
    _assert_found(det, ["F", "A", "A_dup"])


def test_score_threshold_from_config_is_used(head_model: tuple[str, Path]) -> None:
    layout, path = head_model
    det = _detector(path, layout, score_threshold=0.9).detect(FRAME)
    _assert_found(det, ["F"])


def test_all_below_threshold_gives_empty_detections(tmp_path: Path) -> None:
    head = v5_head()
    head[0, :, 4] = 0.1
    det = _detector(constant_yolo(tmp_path / "low.onnx", head), "yolov5").detect(FRAME)
    assert len(det) == 0
    assert det.xyxy.shape == (0, 4)


def _assert_layout_error(path: Path, layout: str, *needles: str, **kw: object) -> None:
    with pytest.raises(ModelLayoutError) as e:
        _detector(path, layout, **kw)
    msg = str(e.value)
    assert isinstance(e.value, ModelFileError) and isinstance(e.value, ValueError)
    assert "\n" not in msg
    assert str(path) in msg and f"detector.layout {layout!r}" in msg
    for n in needles:
        assert n in msg


def test_v8_file_configured_as_v5_is_refused(tmp_path: Path) -> None:
    path = constant_yolo(tmp_path / "v8.onnx", v8_head())
    _assert_layout_error(
        path, "yolov5", "[1,N,5+C]", "output0 float32[1,7,16]", "looks like yolov8"
    )


def test_v5_file_configured_as_v8_is_refused(tmp_path: Path) -> None:
    path = constant_yolo(tmp_path / "v5.onnx", v5_head())
    _assert_layout_error(path, "yolov8", "[1,4+C,N]", "looks like yolov5")


def test_fixed_input_size_must_match_config(tmp_path: Path) -> None:
    path = constant_yolo(tmp_path / "v5.onnx", v5_head(), input_size=416)
    with pytest.raises(ModelLayoutError, match=r"set detector.input_size: 416"):
        _detector(path, "yolov5")


def test_person_class_outside_the_model_classes_is_refused(tmp_path: Path) -> None:
    path = constant_yolo(tmp_path / "v5.onnx", v5_head())
    _assert_layout_error(path, "yolov5", "person_class_ids [3]", "3 classes", person_class_ids=[3])


def test_shipped_ssd_configured_as_yolo_is_refused() -> None:
    with pytest.raises(ModelLayoutError, match=r"pedestrian_ssdlite_mnv2\.onnx.*'yolov8'.*uint8"):
        create_detector(DetectorConfig(layout="yolov8"))


def test_yolo_file_configured_as_ssd_is_refused(tmp_path: Path) -> None:
    path = constant_yolo(tmp_path / "v5.onnx", v5_head())
    with pytest.raises(ModelLayoutError, match=r"v5\.onnx: does not fit detector.layout 'ssd'"):
        create_detector(DetectorConfig(model=str(path), layout="ssd"))


def test_dynamic_output_of_the_wrong_shape_fails_on_first_frame(tmp_path: Path) -> None:
    # Declared [?, ?, ?]: only run time shows it has 4 values per row (v5 needs 6+).
    head = np.zeros((1, N_BOXES, 4), np.float32)
    path = constant_yolo(tmp_path / "dyn.onnx", head, dynamic_output=True)
    det = _detector(path, "yolov5")
    with pytest.raises(ModelLayoutError, match=r"dyn\.onnx: output output0 has shape \[1, 16, 4\]"):
        det.detect(FRAME)


def test_grey_frame_is_refused(tmp_path: Path) -> None:
    det = _detector(constant_yolo(tmp_path / "v5.onnx", v5_head()), "yolov5")
    with pytest.raises(ValueError, match=r"frame: expected a BGR image \(H, W, 3\)"):
        det.detect(np.zeros((480, 640), np.uint8))


def test_person_class_outside_a_dynamic_output_fails_on_first_frame(tmp_path: Path) -> None:
    path = constant_yolo(tmp_path / "dyn.onnx", v5_head(), dynamic_output=True)
    det = _detector(path, "yolov5", person_class_ids=[0, 3])
    with pytest.raises(ModelLayoutError, match=r"person_class_ids \[0, 3\] outside the model's 3"):
        det.detect(FRAME)
