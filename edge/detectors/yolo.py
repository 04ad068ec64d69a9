"""YOLO-family ONNX models, the detectors users bring most: raw heads and NMS-inside exports.

The output layouts (see :mod:`edge.detectors.yolo_layout`) are ``yolov5`` and ``yolov8``
(raw heads; decoding and NMS done here) and ``yolo_nms`` / ``yolo_nms7`` (end-to-end
exports whose graph already ran NMS). ``layout: yolo`` tells them apart from the model's
output shape; a named layout is checked against it, so that an end-to-end file declared
as ``yolov5`` is refused instead of silently finding nothing.

A candidate counts as a person when its *best* class is one of ``person_class_ids`` (as
Ultralytics' ``classes=`` filter does): a box the model thinks is more likely a bicycle
is not a pedestrian.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edge.detectors.base import Detections
from edge.detectors.frame import check_bgr_frame
from edge.detectors.letterbox import Letterbox, letterbox
from edge.detectors.model_io import ModelIO, ModelLayoutError
from edge.detectors.nms import batched_nms
from edge.detectors.sanitize import BoxSanitizer
from edge.detectors.yolo_layout import (
    E2E_COLUMNS,
    EXPECTED,
    FIXED,
    LAYOUTS,
    YoloLayout,
    detect_layout,
    layouts_line,
    looks_end_to_end,
)

log = logging.getLogger(__name__)

RequestedLayout = Literal["yolo", "yolov5", "yolov8", "yolo_nms", "yolo_nms7"]
DEFAULT_INPUT_SIZE = 640  # for models whose input size is dynamic and not configured
_INPUT = "one float32 input [1,3,S,S]"


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


def decode_yolo_nms(
    pred: np.ndarray, score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(N, 6)`` rows ``x1, y1, x2, y2, score, class`` → candidates with score ≥ threshold.

    Padding rows (score 0) and non-finite rows are dropped; the class is the model's.

    >>> rows = np.array([[10, 20, 30, 60, 0.9, 0], [0, 0, 0, 0, 0, 0]], np.float32)
    >>> xyxy, s, c = decode_yolo_nms(rows, 0.5)
    >>> xyxy.tolist(), [round(float(v), 2) for v in s], c.tolist()
    ([[10.0, 20.0, 30.0, 60.0]], [0.9], [0])
    """
    keep = (pred[:, 4] >= score_threshold) & np.isfinite(pred).all(axis=1)
    rows = pred[keep]
    return rows[:, :4], rows[:, 4], _class_ids(rows[:, 5])


def decode_yolo_nms7(
    pred: np.ndarray, score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(N, 7)`` rows ``batch, x1, y1, x2, y2, class, score`` (batch 0 only) → candidates."""
    keep = (
        (pred[:, 6] >= score_threshold) & (pred[:, 0].round() == 0) & np.isfinite(pred).all(axis=1)
    )
    rows = pred[keep]
    return rows[:, 1:5], rows[:, 6], _class_ids(rows[:, 5])


def _class_ids(values: np.ndarray) -> np.ndarray:
    """A float class column as int32; absurd values (1e30) become -1 (no class), not a
    wrapped-around integer that might equal a person class id."""
    ok = (values > -1) & (values < 2**31 - 1)
    return np.where(ok, values, -1).round().astype(np.int32)


_DECODERS = {
    "yolov5": decode_yolov5,
    "yolov8": decode_yolov8,
    "yolo_nms": decode_yolo_nms,
    "yolo_nms7": decode_yolo_nms7,
}


class YoloDetector:
    """Letterbox → float32 NCHW RGB /255 → YOLO head → decode, person filter, NMS if raw."""

    def __init__(
        self,
        session: Any,
        model_path: Path,
        *,
        layout: RequestedLayout,
        input_size: int | None,
        person_class_ids: Sequence[int],
        score_threshold: float,
        nms_iou: float,
        max_detections: int = 300,
    ) -> None:
        if layout != "yolo" and layout not in LAYOUTS:
            raise ValueError(f"layout: expected 'yolo' or one of {list(LAYOUTS)}, got {layout!r}")
        io = ModelIO.of(session, model_path)
        self._io = io
        self._requested = layout
        self._size = _input_size(io, layout, input_size)
        self._layout: YoloLayout | None = _check_layout(io, layout, self._size, person_class_ids)
        if layout == "yolo" and self._layout is not None:
            log.info("%s: detector.layout yolo read as %s", model_path, self._layout)
        self._session = session
        self._input_name = io.inputs[0].name
        self._output_name = io.outputs[0].name
        self._person_ids = np.asarray(sorted(set(person_class_ids)), np.int32)
        self._score_threshold = float(score_threshold)
        self._nms_iou = float(nms_iou)
        self._max_det = int(max_detections)
        self.model_path = model_path
        self.sanitizer = BoxSanitizer(str(model_path))

    @property
    def layout(self) -> YoloLayout | None:
        """The layout in use (``None`` until the first frame for an undecidable dynamic shape)."""
        return self._layout

    @property
    def input_size(self) -> int:
        """Side of the square network input (read from the model when it is static)."""
        return self._size

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """Letterboxed ``(1, 3, S, S)`` float32 RGB in ``[0, 1]`` and the placement."""
        img, lb = letterbox(frame_bgr, self._size)
        chw = np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32)
        chw *= 1.0 / 255.0
        return chw[None], lb

    # YOLO exports are usually made with a batch of 1 (and the end-to-end [N,7] layout
    # numbers its rows by image): images run one by one.
    batches = False

    def detect_batch(self, frames_bgr: list[np.ndarray]) -> list[Detections]:
        """Detect in several images, one inference each."""
        return [self.detect(f) for f in frames_bgr]

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        check_bgr_frame(frame_bgr)
        blob, lb = self.preprocess(frame_bgr)
        (raw,) = self._session.run([self._output_name], {self._input_name: blob})
        layout = self._layout or self._layout_at_run_time(raw.shape)
        pred = self._squeeze(raw, layout)
        xyxy, scores, class_ids = _DECODERS[layout](pred, self._score_threshold)
        person = np.isin(class_ids, self._person_ids)
        xyxy, scores, class_ids = self.sanitizer.clean(
            lb.to_frame(xyxy[person], clip=False),
            scores[person],
            class_ids[person],
            lb.frame_w,
            lb.frame_h,
        )
        if layout in FIXED:  # raw heads: one person seen by many cells
            keep = batched_nms(xyxy, scores, class_ids, self._nms_iou, self._max_det)
        else:  # the graph ran NMS already
            keep = np.argsort(-scores, kind="stable")[: self._max_det]
        return Detections(xyxy[keep], scores[keep], class_ids[keep])

    def _layout_at_run_time(self, shape: tuple[int, ...]) -> YoloLayout:
        """Decide ``layout: yolo`` from the first concrete output shape (dynamic exports)."""
        found = detect_layout(tuple(shape), self._size)
        if found is None:
            raise ModelLayoutError(
                f"{self.model_path}: output {self._output_name} has shape {list(shape)} at "
                f"run time, which fits no YOLO layout; known layouts: {layouts_line()}"
            )
        log.info("%s: detector.layout yolo read as %s at run time", self.model_path, found)
        self._layout = found
        return found

    def _squeeze(self, raw: np.ndarray, layout: YoloLayout) -> np.ndarray:
        """Check the run-time output shape (dynamic axes are only known now) and drop batch."""
        what = EXPECTED[layout].removeprefix("a first output ")
        if layout == "yolo_nms7" and raw.ndim == 2:
            raw = raw[None]
        if layout in E2E_COLUMNS:
            ok = raw.ndim == 3 and raw.shape[0] == 1 and raw.shape[2] == E2E_COLUMNS[layout]
        else:
            channel_axis = 2 if layout == "yolov5" else 1
            ok = raw.ndim == 3 and raw.shape[0] == 1 and raw.shape[channel_axis] > FIXED[layout]
        if not ok:
            raise ModelLayoutError(
                f"{self.model_path}: output {self._output_name} has shape {list(raw.shape)} at "
                f"run time; detector.layout {layout!r} expects {what}"
            )
        if layout in FIXED:
            channel_axis = 2 if layout == "yolov5" else 1
            num_classes = raw.shape[channel_axis] - FIXED[layout]
            if self._person_ids.size and int(self._person_ids.max()) >= num_classes:
                raise ModelLayoutError(
                    f"{self.model_path}: detector.person_class_ids {self._person_ids.tolist()} "
                    f"outside the model's {num_classes} classes (output shape {list(raw.shape)})"
                )
        return raw[0].astype(np.float32, copy=False)


def _input_size(io: ModelIO, layout: str, configured: int | None) -> int:
    """The square input side: the model's own when static, else configured, else 640."""
    if len(io.inputs) != 1 or not io.outputs:
        raise io.error(layout, f"{_INPUT} and {layouts_line()}")
    inp = io.inputs[0]
    if inp.dtype != "float32" or len(inp.shape) != 4 or inp.shape[1] not in (None, 3):
        raise io.error(layout, f"{_INPUT}")
    if inp.shape[0] not in (None, 1):  # frames run one at a time: a fixed batch of 4 never fits
        raise io.error(layout, f"{_INPUT}", f"its batch axis is fixed to {inp.shape[0]}")
    out = io.outputs[0]
    if out.dtype not in ("float32", "float16", "float64"):
        raise io.error(
            layout, f"{_INPUT} and a float32/float16 first output", "boxes cannot be integers"
        )
    h, w = inp.shape[2:]
    if h is not None and w is not None and h != w:
        raise io.error(layout, f"{_INPUT}", "only square inputs are supported")
    static = h if h is not None else w
    if static is None:
        return configured or DEFAULT_INPUT_SIZE
    if configured is not None and configured != static:
        raise io.error(
            layout,
            _INPUT.replace("S,S", f"{configured},{configured}"),
            f"set detector.input_size: {static} or leave it out (it is read from the model)",
        )
    return static


def _check_layout(
    io: ModelIO, layout: RequestedLayout, input_size: int, person_class_ids: Sequence[int]
) -> YoloLayout | None:
    """The layout to decode with, checked against the declared output shape.

    ``None`` only for ``layout: yolo`` with an output too dynamic to tell at load time.
    """
    out = io.outputs[0].shape
    if layout == "yolo":
        found = detect_layout(out, input_size)
        if found is None and all(d is not None for d in out):
            raise io.error(layout, f"{_INPUT} and one of the YOLO layouts ({layouts_line()})")
        if found is None:
            return None
        layout = found
    expected = f"{_INPUT} and {EXPECTED[layout]}"
    if layout in E2E_COLUMNS:
        cols = E2E_COLUMNS[layout]
        ok_rank = len(out) == 3 or (layout == "yolo_nms7" and len(out) == 2)
        batch_ok = len(out) != 3 or out[0] in (None, 1)
        if not ok_rank or not batch_ok or out[-1] not in (None, cols):
            raise io.error(layout, expected)
        return layout
    if len(out) != 3 or out[0] not in (None, 1):
        raise io.error(layout, expected)
    e2e = looks_end_to_end(out, input_size)
    if e2e is not None:
        raise io.error(
            layout,
            expected,
            f"it looks like an end-to-end export with NMS inside: set detector.layout: {e2e} "
            "(or yolo to read it from the model)",
        )
    channels, boxes = (out[2], out[1]) if layout == "yolov5" else out[1:]
    fixed = FIXED[layout]
    if channels is not None and channels <= fixed:
        raise io.error(layout, expected)
    # Real YOLO heads have thousands of candidates and at most ~100s of classes: if the
    # "channel" axis is the longer one, the file is the other layout.
    if channels is not None and boxes is not None and channels > boxes:
        other = "yolov8" if layout == "yolov5" else "yolov5"
        raise io.error(layout, expected, f"it looks like {other}")
    if channels is not None:
        num_classes = channels - fixed
        bad = [c for c in person_class_ids if not 0 <= c < num_classes]
        if bad:
            raise io.error(
                layout,
                expected,
                f"detector.person_class_ids {bad} outside the model's {num_classes} classes",
            )
    return layout
