"""YOLO-family ONNX models with raw outputs (NMS done here), the format users bring most.

Two output layouts exist in the wild:

* ``yolov5`` (also v7 and others): ``[1, N, 5+C]`` rows ``cx, cy, w, h, objectness,
  class scores...``; confidence = objectness × class score.
* ``yolov8`` (also v9/v11): ``[1, 4+C, N]`` columns ``cx, cy, w, h, class scores...``; no
  objectness, confidence = class score.

Boxes are in pixels of the letterboxed network input. A candidate counts as a person
when its *best* class is one of ``person_class_ids`` (as Ultralytics' ``classes=``
filter does): a box the model thinks is more likely a bicycle is not a pedestrian.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edge.detectors.base import Detections
from edge.detectors.frame import check_bgr_frame
from edge.detectors.letterbox import Letterbox, letterbox
from edge.detectors.model_io import ModelIO, ModelLayoutError
from edge.detectors.nms import batched_nms

YoloLayout = Literal["yolov5", "yolov8"]

_EXPECTED: dict[str, str] = {
    "yolov5": "one float32 input [1,3,S,S] and a first output [1,N,5+C] (cx,cy,w,h,obj,classes)",
    "yolov8": "one float32 input [1,3,S,S] and a first output [1,4+C,N] (cx,cy,w,h,classes)",
}
_OTHER: dict[str, str] = {"yolov5": "yolov8", "yolov8": "yolov5"}
_FIXED: dict[str, int] = {"yolov5": 5, "yolov8": 4}  # values before the class scores


def _xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    half = xywh[:, 2:4] / 2
    return np.concatenate([xywh[:, 0:2] - half, xywh[:, 0:2] + half], axis=1)


def decode_yolov5(
    pred: np.ndarray, score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(N, 5+C)`` rows → ``(xyxy, score, class_id)`` of candidates with score ≥ threshold.

    Objectness bounds the final score, so rows below the threshold on objectness alone are
    dropped before the (costlier) per-class work.
    """
    pred = pred[pred[:, 4] >= score_threshold]
    cls = pred[:, 5:] * pred[:, 4:5]
    class_ids = cls.argmax(axis=1).astype(np.int32)
    scores = cls[np.arange(len(cls)), class_ids]
    keep = scores >= score_threshold
    return _xywh_to_xyxy(pred[keep, :4]), scores[keep], class_ids[keep]


def decode_yolov8(
    pred: np.ndarray, score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(4+C, N)`` columns → ``(xyxy, score, class_id)`` of candidates with score ≥ threshold."""
    cls = pred[4:]
    best = cls.max(axis=0)
    cand = np.flatnonzero(best >= score_threshold)
    class_ids = cls[:, cand].argmax(axis=0).astype(np.int32)
    return _xywh_to_xyxy(pred[:4, cand].T), best[cand], class_ids


class YoloDetector:
    """Letterbox → float32 NCHW RGB /255 → raw YOLO head → decode, person filter, NMS."""

    def __init__(
        self,
        session: Any,
        model_path: Path,
        *,
        layout: YoloLayout,
        input_size: int,
        person_class_ids: Sequence[int],
        score_threshold: float,
        nms_iou: float,
        max_detections: int = 300,
    ) -> None:
        if layout not in _EXPECTED:
            raise ValueError(f"layout: expected 'yolov5' or 'yolov8', got {layout!r}")
        io = ModelIO.of(session, model_path)
        self._layout = layout
        _check_layout(io, layout, input_size, person_class_ids)
        self._session = session
        self._input_name = io.inputs[0].name
        self._output_name = io.outputs[0].name
        self._size = int(input_size)
        self._person_ids = np.asarray(sorted(set(person_class_ids)), np.int32)
        self._score_threshold = float(score_threshold)
        self._nms_iou = float(nms_iou)
        self._max_det = int(max_detections)
        self.model_path = model_path

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """Letterboxed ``(1, 3, S, S)`` float32 RGB in ``[0, 1]`` and the placement."""
        img, lb = letterbox(frame_bgr, self._size)
        chw = np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32)
        chw *= 1.0 / 255.0
        return chw[None], lb

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        check_bgr_frame(frame_bgr)
        blob, lb = self.preprocess(frame_bgr)
        (raw,) = self._session.run([self._output_name], {self._input_name: blob})
        pred = self._squeeze(raw)
        decode = decode_yolov5 if self._layout == "yolov5" else decode_yolov8
        xyxy, scores, class_ids = decode(pred, self._score_threshold)
        person = np.isin(class_ids, self._person_ids)
        xyxy, scores, class_ids = xyxy[person], scores[person], class_ids[person]
        keep = batched_nms(xyxy, scores, class_ids, self._nms_iou)[: self._max_det]
        return Detections(lb.to_frame(xyxy[keep]), scores[keep].astype(np.float32), class_ids[keep])

    def _squeeze(self, raw: np.ndarray) -> np.ndarray:
        """Check the run-time output shape (dynamic axes are only known now) and drop batch."""
        channel_axis = 2 if self._layout == "yolov5" else 1
        fixed = _FIXED[self._layout]
        if raw.ndim != 3 or raw.shape[0] != 1 or raw.shape[channel_axis] <= fixed:
            raise ModelLayoutError(
                f"{self.model_path}: output {self._output_name} has shape {list(raw.shape)} at "
                f"run time; detector.layout {self._layout!r} expects "
                f"{_EXPECTED[self._layout].split(' and ')[1]}"
            )
        num_classes = raw.shape[channel_axis] - fixed
        if self._person_ids.size and int(self._person_ids.max()) >= num_classes:
            raise ModelLayoutError(
                f"{self.model_path}: detector.person_class_ids {self._person_ids.tolist()} "
                f"outside the model's {num_classes} classes (output shape {list(raw.shape)})"
            )
        return raw[0].astype(np.float32, copy=False)


def _check_layout(
    io: ModelIO, layout: YoloLayout, input_size: int, person_class_ids: Sequence[int]
) -> int | None:
    """Validate declared shapes against the layout; return C (classes) if it is static."""
    expected = _EXPECTED[layout]
    if len(io.inputs) != 1 or not io.outputs:
        raise io.error(layout, expected)
    inp, out = io.inputs[0], io.outputs[0]
    if inp.dtype != "float32" or len(inp.shape) != 4 or inp.shape[1] not in (None, 3):
        raise io.error(layout, expected)
    hw = inp.shape[2:]
    if any(d is not None and d != input_size for d in hw):
        raise io.error(
            layout,
            expected.replace("S,S", f"{input_size},{input_size}"),
            f"set detector.input_size: {hw[0]}"
            if hw[0] == hw[1]
            else "only square inputs are supported",
        )
    if len(out.shape) != 3 or out.shape[0] not in (None, 1):
        raise io.error(layout, expected)
    channels, boxes = (out.shape[2], out.shape[1]) if layout == "yolov5" else out.shape[1:]
    fixed = _FIXED[layout]
    if channels is not None and channels <= fixed:
        raise io.error(layout, expected)
    # Real YOLO heads have thousands of candidates and at most ~100s of classes: if the
    # "channel" axis is the longer one, the file is the other layout.
    if channels is not None and boxes is not None and channels > boxes:
        raise io.error(layout, expected, f"it looks like {_OTHER[layout]}")
    if channels is None:
        return None
    num_classes = channels - fixed
    bad = [c for c in person_class_ids if not 0 <= c < num_classes]
    if bad:
        raise io.error(
            layout,
            expected,
            f"detector.person_class_ids {bad} outside the model's {num_classes} classes",
        )
    return num_classes
