"""Which YOLO output layout a model file has, told from its output shape.

Users bring YOLO files exported by different tools, and the same ``[1, 300, 6]`` tensor
means "raw head of a one-class v5 model" to one decoder and "boxes after NMS" to
another. Read with the wrong decoder such a file loads fine and finds nothing, which on
a gateway looks exactly like an empty street. So the layout is told from the shape, and
a shape that fits no known layout is refused at load with one line listing the layouts.

Known layouts (first output; boxes in pixels of the letterboxed network input):

* ``yolov5`` — raw ``[1, N, 5+C]`` rows ``cx, cy, w, h, objectness, classes…`` (also v7
  raw, YOLOX); NMS done here.
* ``yolov8`` — raw ``[1, 4+C, N]`` columns ``cx, cy, w, h, classes…`` (also v9, v11,
  YOLOv5u); NMS done here.
* ``yolo_nms`` — end-to-end ``[1, N, 6]`` rows ``x1, y1, x2, y2, score, class``: an
  Ultralytics export with ``nms=True`` and YOLOv10's NMS-free head.
* ``yolo_nms7`` — end-to-end ``[N, 7]`` (or ``[1, N, 7]``) rows ``batch, x1, y1, x2,
  y2, class, score``: YOLOv7's ``--end2end`` export for onnxruntime.

A raw head has one candidate per grid cell (anchor-free) or three (anchor-based) of the
stride-8/16/32(/64) grids, so its N is known from the input size; an end-to-end export's
N is its ``max_det`` (100, 300, 1000…). That is what separates them.

>>> raw_candidate_counts(640)
(8400, 8500, 25200, 25500)
>>> detect_layout((1, 25200, 85), 640)
'yolov5'
>>> detect_layout((1, 84, 8400), 640)
'yolov8'
>>> detect_layout((1, 300, 6), 640)
'yolo_nms'
>>> detect_layout((None, 7), 640)
'yolo_nms7'
>>> detect_layout((1, 10, 10), 640) is None
True
"""

from __future__ import annotations

import math
from typing import Literal

YoloLayout = Literal["yolov5", "yolov8", "yolo_nms", "yolo_nms7"]
LAYOUTS: tuple[YoloLayout, ...] = ("yolov5", "yolov8", "yolo_nms", "yolo_nms7")

EXPECTED: dict[str, str] = {
    "yolov5": "a first output [1,N,5+C] (cx,cy,w,h,obj,classes; raw head)",
    "yolov8": "a first output [1,4+C,N] (cx,cy,w,h,classes; raw head)",
    "yolo_nms": "a first output [1,N,6] (x1,y1,x2,y2,score,class; NMS inside)",
    "yolo_nms7": "a first output [N,7] or [1,N,7] (batch,x1,y1,x2,y2,class,score; NMS inside)",
}
# Values per box before the class scores (raw layouts).
FIXED: dict[str, int] = {"yolov5": 5, "yolov8": 4}
# Columns per row of the end-to-end layouts.
E2E_COLUMNS: dict[str, int] = {"yolo_nms": 6, "yolo_nms7": 7}

_STRIDE_SETS = ((8, 16, 32), (8, 16, 32, 64))  # P5 and P6 models


def layouts_line() -> str:
    """All known layouts in one line, for error messages."""
    return "; ".join(f"{name}: {what}" for name, what in EXPECTED.items())


def raw_candidate_counts(input_size: int) -> tuple[int, ...]:
    """Row counts a raw YOLO head can have at a square ``input_size``, sorted.

    One candidate per cell of each stride's grid (anchor-free heads) or three (anchor-based).
    """
    counts = set()
    for strides in _STRIDE_SETS:
        cells = sum(math.ceil(input_size / s) ** 2 for s in strides)
        counts.update((cells, 3 * cells))
    return tuple(sorted(counts))


def looks_end_to_end(shape: tuple[int | None, ...], input_size: int) -> YoloLayout | None:
    """The end-to-end layout ``shape`` has, if its row count cannot be a raw head's.

    >>> looks_end_to_end((1, 300, 6), 640)
    'yolo_nms'
    >>> looks_end_to_end((1, 25200, 6), 640) is None   # a one-class raw v5 head
    True
    """
    if len(shape) == 2 and shape[1] == 7:
        return "yolo_nms7"
    if len(shape) != 3 or shape[2] not in (6, 7):
        return None
    rows = shape[1]
    if rows is None or rows in raw_candidate_counts(input_size):
        return None
    return "yolo_nms" if shape[2] == 6 else "yolo_nms7"


def detect_layout(shape: tuple[int | None, ...], input_size: int) -> YoloLayout | None:
    """The layout of a first output of ``shape`` (``None`` = dynamic axis), or ``None``.

    ``None`` when the shape fits no layout or is too dynamic to tell; the caller then
    waits for the run-time shape or refuses the file.
    """
    e2e = looks_end_to_end(shape, input_size)
    if e2e is not None:
        return e2e
    if len(shape) != 3 or shape[0] not in (None, 1):
        return None
    rows, cols = shape[1], shape[2]
    raw = raw_candidate_counts(input_size)
    if rows in raw and cols is not None and cols > FIXED["yolov5"]:
        return "yolov5"
    if cols in raw and rows is not None and rows > FIXED["yolov8"]:
        return "yolov8"
    return None
