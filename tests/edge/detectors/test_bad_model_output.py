"""What a broken or odd model puts in its output never reaches the tracker.

Real ONNX graphs (tests/edge/detectors/yolo_graphs.py) whose output holds NaN, inf,
1e30, inverted and zero-size boxes, boxes outside the image, scores outside [0, 1],
absurd class ids and far too many candidates, run by onnxruntime through
``create_detector``: the bad rows are dropped (counted by reason on the detector's
sanitizer), the good person is found where it is, boxes are clipped to the frame. A bad
row that ranks first (inf score, NaN box) used to suppress the real person in NMS.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from edge.config import DetectorConfig
from edge.detectors import create_detector
from edge.detectors.sanitize import MAX_CANDIDATES
from tests.edge.detectors.yolo_graphs import constant_yolo

SIZE = 320
ROWS = 3 * sum((SIZE // s) ** 2 for s in (8, 16, 32))  # 6300: a raw v5 head at 320
FRAME = np.zeros((480, 640, 3), np.uint8)  # into 320: scale 0.5, 40 px pad top/bottom
PERSON = [160.0, 120.0, 40.0, 80.0]  # cx, cy, w, h in network pixels
PERSON_FRAME = [280.0, 80.0, 360.0, 240.0]


def detector(tmp_path: Path, head: np.ndarray, layout: str = "yolo"):
    return create_detector(
        DetectorConfig(model=str(constant_yolo(tmp_path / "m.onnx", head)), layout=layout)
    )


def v5(*rows: list[float]) -> np.ndarray:
    head = np.zeros((1, ROWS, 6), np.float32)  # one class: cx,cy,w,h,obj,person
    head[0, : len(rows)] = rows
    return head


BAD_V5 = {
    # each bad row scores above the person, so unsanitised it would win NMS or rank first
    "nan_box": ([np.nan, 120, 40, 80, 0.99, 1], "non_finite"),
    "inf_score": ([160, 120, 40, 80, np.inf, 1], "non_finite"),
    "inf_width": ([160, 120, np.inf, 80, 0.99, 1], "non_finite"),
    "huge_width": ([160, 120, 1e30, 80, 0.99, 1], "outside"),
    "negative_width": ([160, 120, -40, 80, 0.99, 1], "no_area"),
    "zero_height": ([160, 120, 40, 0, 0.99, 1], "no_area"),
    "logit_score": ([160, 120, 40, 80, 7.5, 1], "score_range"),
    "left_of_image": ([-500, 120, 40, 80, 0.99, 1], "outside"),
    "in_the_padding": ([160, 10, 40, 20, 0.99, 1], "outside"),  # above the frame once mapped
}


@pytest.mark.parametrize("name", list(BAD_V5))
def test_a_bad_row_is_dropped_and_counted_and_the_person_is_still_found(
    tmp_path: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    row, reason = BAD_V5[name]
    det = detector(tmp_path, v5(row, [*PERSON, 0.9, 1]), "yolov5")
    with caplog.at_level(logging.WARNING, logger="edge.detectors.sanitize"):
        found = det.detect(FRAME)
        det.detect(FRAME)  # a second bad frame within the minute: counted, not logged
    assert found.xyxy.tolist() == [PERSON_FRAME]
    assert found.scores.tolist() == [pytest.approx(0.9)]
    assert dict(det.sanitizer.dropped) == {reason: 2}
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and str(det.model_path) in warnings[0], warnings


def test_end_to_end_rows_inverted_absurd_class_or_over_one_are_dropped(tmp_path: Path) -> None:
    head = np.zeros((1, 300, 6), np.float32)  # x1, y1, x2, y2, score, class
    head[0, 0] = [180, 160, 140, 80, 0.99, 0]  # x2 < x1
    head[0, 1] = [140, 80, 180, 160, 0.99, 1e30]  # absurd class: not cast into a person
    head[0, 2] = [140, 80, 180, 160, 0.99, -1e30]
    head[0, 3] = [140, 80, 180, 160, 3.0, 0]  # score 3
    head[0, 4] = [0, 0, 1e30, 1e30, 0.99, 0]  # "whole frame" from overflow
    head[0, 5] = [140, 80, 180, 160, 0.9, 0]  # the person
    head[0, 6] = [300, 200, 400, 300, 0.8, 0]  # reaches past the input: clipped
    det = detector(tmp_path, head)
    found = det.detect(FRAME)
    assert found.xyxy.tolist() == [PERSON_FRAME, [600.0, 320.0, 640.0, 480.0]]
    assert found.class_ids.tolist() == [0, 0]
    assert dict(det.sanitizer.dropped) == {"no_area": 1, "score_range": 1, "outside": 1}


def test_a_head_whose_every_cell_fires_is_capped_before_nms(tmp_path: Path) -> None:
    """6300 small non-overlapping candidates above the threshold: only the best 3000 go
    into NMS and it stops at max_det (300); it used to run 6300 rounds (~0.8 s here)."""
    rng = np.random.default_rng(0)
    head = np.zeros((1, ROWS, 6), np.float32)
    head[0, :, 0] = rng.uniform(20, 300, ROWS)
    head[0, :, 1] = rng.uniform(60, 260, ROWS)  # inside the image part of the input
    head[0, :, 2:4] = 4
    head[0, :, 4] = rng.uniform(0.6, 0.99, ROWS)
    head[0, :, 5] = 1
    det = detector(tmp_path, head, "yolov5")
    found = det.detect(FRAME)
    assert len(found) == 300
    assert det.sanitizer.dropped["capped"] == ROWS - MAX_CANDIDATES
    assert float(found.scores.min()) >= float(np.sort(head[0, :, 4])[-MAX_CANDIDATES])
    assert np.isfinite(found.xyxy).all()


def test_a_float16_output_is_read_like_float32(tmp_path: Path) -> None:
    """fp16 exports overflow to inf easily; the inf row is dropped, the person kept."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    head = v5([160, 120, np.inf, 80, 0.99, 1], [*PERSON, 0.9, 1]).astype(np.float16)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["head"], ["output0"])],
        "fp16",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT16, list(head.shape))],
        initializer=[numpy_helper.from_array(head, "head")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "fp16.onnx"))
    det = create_detector(DetectorConfig(model=str(tmp_path / "fp16.onnx"), layout="yolov5"))
    found = det.detect(FRAME)
    assert found.xyxy.tolist() == [PERSON_FRAME] and found.xyxy.dtype == np.float32
