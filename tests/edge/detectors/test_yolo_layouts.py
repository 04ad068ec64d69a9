"""YOLO layouts told from the model: raw v5/v8 heads and end-to-end exports with NMS inside.

Each model is a real ONNX graph run by onnxruntime with the output *shape* a real export
of that kind has at a 320 input (raw heads: one or three candidates per cell of the
40², 20² and 10² grids; end-to-end: ``max_det`` = 300 rows). Frame 640x480 into 320:
scale 0.5, 40 px pad top and bottom, as in test_yolo_decoding.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge.config import DetectorConfig
from edge.detectors import create_detector
from edge.detectors.model_io import ModelLayoutError
from edge.detectors.yolo_layout import raw_candidate_counts
from tests.edge.detectors.yolo_graphs import bright_box_yolo, constant_yolo

SIZE = 320
CELLS = sum((SIZE // s) ** 2 for s in (8, 16, 32))  # 2100
FRAME = np.zeros((480, 640, 3), np.uint8)
PERSON_NET = [100.0, 80.0, 140.0, 160.0]  # x1, y1, x2, y2 in network pixels
PERSON_FRAME = [200.0, 80.0, 280.0, 240.0]
BIKE_NET = [200.0, 100.0, 240.0, 140.0]


def _v5_head(num_classes: int = 80) -> np.ndarray:
    head = np.zeros((1, 3 * CELLS, 5 + num_classes), np.float32)
    cx, cy = (PERSON_NET[0] + PERSON_NET[2]) / 2, (PERSON_NET[1] + PERSON_NET[3]) / 2
    head[0, 17, :5] = [cx, cy, 40, 80, 0.9]
    head[0, 17, 5] = 0.95  # person
    head[0, 18, :5] = [cx + 2, cy + 2, 40, 80, 0.8]  # the same person from a neighbour cell
    head[0, 18, 5] = 0.9
    if num_classes > 1:
        head[0, 400, :5] = [220, 120, 40, 40, 0.9]
        head[0, 400, 5 + 1] = 0.9  # bicycle
    return head


def _v8_head() -> np.ndarray:
    v5 = _v5_head()[0]
    rows = np.concatenate([v5[:CELLS, :4], v5[:CELLS, 5:] * v5[:CELLS, 4:5]], axis=1)
    return rows.T[None].copy()


def _nms_head() -> np.ndarray:
    head = np.zeros((1, 300, 6), np.float32)
    head[0, 0] = [*PERSON_NET, 0.86, 0]
    head[0, 1] = [*BIKE_NET, 0.8, 1]
    return head


def _nms7_rows() -> np.ndarray:
    return np.array(
        [[0, *PERSON_NET, 0, 0.86], [0, *BIKE_NET, 1, 0.8], [1, 0, 0, 50, 50, 0, 0.99]],
        np.float32,
    )


def _rank2_constant(path: Path, rows: np.ndarray) -> Path:
    """``[N, 7]`` output with a dynamic N, as YOLOv7's end2end export declares it."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["rows"], ["output"])],
        "nms7",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 7])],
        initializer=[numpy_helper.from_array(rows, "rows")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _model(tmp_path: Path, kind: str) -> Path:
    if kind == "yolo_nms7":
        return _rank2_constant(tmp_path / "nms7.onnx", _nms7_rows())
    head = {"yolov5": _v5_head, "yolov8": _v8_head, "yolo_nms": _nms_head}[kind]()
    return constant_yolo(tmp_path / f"{kind}.onnx", head, input_size=SIZE)


def test_raw_head_sizes_follow_the_grids() -> None:
    assert raw_candidate_counts(640)[:3] == (8400, 8500, 25200)
    assert CELLS in raw_candidate_counts(SIZE) and 3 * CELLS in raw_candidate_counts(SIZE)


@pytest.mark.parametrize("kind", ["yolov5", "yolov8", "yolo_nms", "yolo_nms7"])
def test_layout_yolo_reads_the_layout_and_finds_the_one_person(tmp_path: Path, kind: str) -> None:
    det = create_detector(DetectorConfig(model=str(_model(tmp_path, kind)), layout="yolo"))
    assert det.layout == kind  # type: ignore[attr-defined]
    assert det.input_size == SIZE  # type: ignore[attr-defined]  # read from the model
    found = det.detect(FRAME)
    assert len(found) == 1  # the bicycle is not a person; v5/v8 duplicates merged by NMS
    np.testing.assert_allclose(found.xyxy[0], PERSON_FRAME, atol=1e-3)


@pytest.mark.parametrize("kind", ["yolo_nms", "yolo_nms7"])
def test_end_to_end_layout_named_explicitly_works(tmp_path: Path, kind: str) -> None:
    det = create_detector(DetectorConfig(model=str(_model(tmp_path, kind)), layout=kind))
    assert len(det.detect(FRAME)) == 1


def test_nms7_rows_of_other_batches_are_ignored(tmp_path: Path) -> None:
    # Row 3 (batch 1, score 0.99) would be a second person if batch were not checked.
    det = create_detector(DetectorConfig(model=str(_model(tmp_path, "yolo_nms7")), layout="yolo"))
    assert det.detect(FRAME).scores.tolist() == pytest.approx([0.86])


def test_configurable_person_class(tmp_path: Path) -> None:
    path = _model(tmp_path, "yolo_nms")
    det = create_detector(DetectorConfig(model=str(path), layout="yolo", person_class_ids=[1]))
    np.testing.assert_allclose(det.detect(FRAME).xyxy[0], [400, 120, 480, 200], atol=1e-3)


@pytest.mark.parametrize("declared", ["yolov5", "yolov8"])
def test_end_to_end_export_declared_as_raw_is_refused_not_silently_empty(
    tmp_path: Path, declared: str
) -> None:
    # The Ultralytics nms=True export ([1,300,6]) used to load as yolov5 and find 0 boxes.
    path = _model(tmp_path, "yolo_nms")
    with pytest.raises(ModelLayoutError) as e:
        create_detector(DetectorConfig(model=str(path), layout=declared))  # type: ignore[arg-type]
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg
    assert "set detector.layout: yolo_nms" in msg or "looks like" in msg


def test_one_class_raw_v5_head_is_not_mistaken_for_end_to_end(tmp_path: Path) -> None:
    head = _v5_head(num_classes=1)  # [1, 6300, 6]: six columns, but a raw head's row count
    path = constant_yolo(tmp_path / "one_class.onnx", head, input_size=SIZE)
    det = create_detector(DetectorConfig(model=str(path), layout="yolo"))
    assert det.layout == "yolov5"  # type: ignore[attr-defined]
    assert len(det.detect(FRAME)) == 1


def test_shape_of_no_known_layout_is_refused_with_the_list(tmp_path: Path) -> None:
    path = constant_yolo(tmp_path / "odd.onnx", np.zeros((1, 10, 10), np.float32), SIZE)
    with pytest.raises(ModelLayoutError) as e:
        create_detector(DetectorConfig(model=str(path), layout="yolo"))
    msg = str(e.value)
    assert "\n" not in msg and "odd.onnx" in msg
    for name in ("yolov5:", "yolov8:", "yolo_nms:", "yolo_nms7:"):
        assert name in msg


def test_dynamic_end_to_end_output_is_read_on_the_first_frame(tmp_path: Path) -> None:
    # Declared [?, ?, ?]; the run-time shape [1, 300, 6] shows the layout (input 320 wide).
    head = np.zeros((1, 300, 6), np.float32)
    head[0, 0] = [*PERSON_NET, 0.9, 0]
    path = constant_yolo(tmp_path / "dyn.onnx", head, dynamic_output=True)
    det = create_detector(DetectorConfig(model=str(path), layout="yolo", input_size=SIZE))
    assert det.layout is None  # type: ignore[attr-defined]
    np.testing.assert_allclose(det.detect(FRAME).xyxy[0], PERSON_FRAME, atol=1e-3)
    assert det.layout == "yolo_nms"  # type: ignore[attr-defined]


def test_end_to_end_preprocessing_round_trip(tmp_path: Path) -> None:
    # bright_box computes its box from the image: letterbox, BGR→RGB and undo end to end.
    path = bright_box_yolo(tmp_path / "bright.onnx", "yolo_nms", SIZE)
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[100:180, 200:300] = (0, 0, 255)  # red in BGR
    det = create_detector(DetectorConfig(model=str(path), layout="yolo_nms"))
    found = det.detect(frame)
    assert len(found) == 1
    np.testing.assert_allclose(found.xyxy[0], (200, 100, 300, 180), atol=640 / SIZE + 1e-3)
