"""Small real ONNX graphs with YOLO output layouts, built with the ``onnx`` helper API.

No YOLO model exists offline, so these stand in for one: they are genuine ONNX files run
by onnxruntime through the same detector code path a user's YOLO file takes.

* :func:`constant_yolo` outputs a fixed raw head tensor (decoding, filtering, NMS).
* :func:`bright_box_yolo` *computes* its output from the image: it reports the bounding
  box of pixels whose R channel is above 0.5, with score = max R. That checks the
  pre-processing end to end (letterbox placement, BGR→RGB, /255) and the letterbox undo.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17  # ReduceMax still takes axes as an attribute


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def _image_input(size: int | None) -> onnx.ValueInfoProto:
    dims: list[int | str] = [1, 3, size, size] if size else [1, 3, "h", "w"]
    return helper.make_tensor_value_info("images", TensorProto.FLOAT, dims)


def constant_yolo(
    path: Path, head: np.ndarray, input_size: int | None = 320, dynamic_output: bool = False
) -> Path:
    """A model whose only output ``output0`` is ``head`` (float32, rank 3), whatever the image.

    ``dynamic_output``: the input size is dynamic and the output is reshaped to
    ``[1, -1, input_width / (320 / C)]`` so that its shape is unknown until run time (as
    in some exports); at width 320 that is ``head``'s own shape.
    """
    head = np.asarray(head, np.float32)
    inits = [numpy_helper.from_array(head, "head")]
    if not dynamic_output:
        nodes = [helper.make_node("Identity", ["head"], ["output0"])]
        out_dims: list[int | str] = [int(d) for d in head.shape]
    else:
        input_size = None
        inits += [
            numpy_helper.from_array(np.array([1, -1], np.int64), "lead"),
            numpy_helper.from_array(np.array([320 // head.shape[2]], np.int64), "div"),
        ]
        nodes = [
            helper.make_node("Shape", ["images"], ["in_shape"], start=3, end=4),
            helper.make_node("Div", ["in_shape", "div"], ["last"]),
            helper.make_node("Concat", ["lead", "last"], ["new_shape"], axis=0),
            helper.make_node("Reshape", ["head", "new_shape"], ["output0"]),
        ]
        out_dims = ["b", "n", "c"]
    graph = helper.make_graph(
        nodes,
        "constant_yolo",
        [_image_input(input_size)],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_dims)],
        initializer=inits,
    )
    return _save(graph, path)


def bright_box_yolo(path: Path, layout: str, input_size: int, n_boxes: int | None = None) -> Path:
    """A one-class 'detector' of R-bright regions with a v5, v8 or yolo_nms output layout.

    ``yolo_nms`` rows are ``x1, y1, x2, y2, score, class 0`` as an end-to-end export's.
    ``n_boxes`` defaults to 8, and for v5 to a raw head's real row count (three anchors per
    cell of the stride 8/16/32 grids): with one class a v5 row has 6 values, and only the
    row count tells such a head from an end-to-end export.

    Candidate 0 is the box of all pixels with R > 0.5 (network-input pixels, x2/y2
    exclusive), score max(R); candidates 1..n-1 are zeros (score 0), so N > 4+C as in a
    real head.
    """
    if n_boxes is None:
        cells = sum((input_size // s) ** 2 for s in (8, 16, 32)) if input_size else 0
        n_boxes = 3 * cells if layout == "yolov5" and cells else 8
    c = helper.make_tensor
    nodes = [
        helper.make_node("Constant", [], ["s0"], value=c("s0", TensorProto.INT64, [1], [0])),
        helper.make_node("Constant", [], ["s1"], value=c("s1", TensorProto.INT64, [1], [1])),
        helper.make_node("Constant", [], ["half"], value=c("half", TensorProto.FLOAT, [], [0.5])),
        helper.make_node("Constant", [], ["one"], value=c("one", TensorProto.FLOAT, [], [1.0])),
        # R channel (index 0 of RGB input): [1,1,S,S]
        helper.make_node("Slice", ["images", "s0", "s1", "s1"], ["r"]),
        helper.make_node("ReduceMax", ["r"], ["score4"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Reshape", ["score4", "shape111"], ["score"]),  # [1,1,1]
        helper.make_node("Greater", ["r", "half"], ["mask_b"]),
        helper.make_node("Cast", ["mask_b"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMax", ["mask"], ["cols"], axes=[1, 2], keepdims=1),  # [1,1,1,S]
        helper.make_node("ReduceMax", ["mask"], ["rows"], axes=[1, 3], keepdims=1),  # [1,1,S,1]
        helper.make_node("ArgMax", ["cols"], ["x1i"], axis=3, keepdims=1),
        helper.make_node("ArgMax", ["cols"], ["x2l"], axis=3, keepdims=1, select_last_index=1),
        helper.make_node("ArgMax", ["rows"], ["y1i"], axis=2, keepdims=1),
        helper.make_node("ArgMax", ["rows"], ["y2l"], axis=2, keepdims=1, select_last_index=1),
    ]
    for name in ("x1i", "x2l", "y1i", "y2l"):
        nodes.append(helper.make_node("Cast", [name], [name + "f"], to=TensorProto.FLOAT))
        nodes.append(helper.make_node("Reshape", [name + "f", "shape111"], [name + "v"]))
    nodes += [
        helper.make_node("Add", ["x2lv", "one"], ["x2"]),
        helper.make_node("Add", ["y2lv", "one"], ["y2"]),
        helper.make_node("Sub", ["x2", "x1iv"], ["w"]),
        helper.make_node("Sub", ["y2", "y1iv"], ["h"]),
        helper.make_node("Add", ["x1iv", "x2"], ["sx"]),
        helper.make_node("Add", ["y1iv", "y2"], ["sy"]),
        helper.make_node("Mul", ["sx", "half"], ["cx"]),
        helper.make_node("Mul", ["sy", "half"], ["cy"]),
    ]
    fields = {
        "yolov5": ["cx", "cy", "w", "h", "score", "one_v"],
        "yolov8": ["cx", "cy", "w", "h", "score"],
        "yolo_nms": ["x1iv", "y1iv", "x2", "y2", "score", "zero_v"],
    }[layout]
    channels = len(fields)
    nodes += [
        helper.make_node("Reshape", ["one", "shape111"], ["one_v"]),
        helper.make_node("Sub", ["one_v", "one_v"], ["zero_v"]),
        # [1, channels, 1] then padded with zero candidates to [1, channels, n_boxes]
        helper.make_node("Concat", fields, ["cand"], axis=1),
        helper.make_node("Concat", ["cand", "zeros"], ["v8"], axis=2),
    ]
    if layout in ("yolov5", "yolo_nms"):  # rows (v5: cx,cy,w,h,obj=score,cls=1)
        nodes.append(helper.make_node("Transpose", ["v8"], ["output0"], perm=[0, 2, 1]))
        out_shape = [1, n_boxes, channels]
    else:
        nodes.append(helper.make_node("Identity", ["v8"], ["output0"]))
        out_shape = [1, channels, n_boxes]
    inits = [
        numpy_helper.from_array(np.array([1, 1, 1], np.int64), "shape111"),
        numpy_helper.from_array(np.zeros((1, channels, n_boxes - 1), np.float32), "zeros"),
    ]
    graph = helper.make_graph(
        nodes,
        f"bright_box_{layout}",
        [_image_input(input_size)],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_shape)],
        initializer=inits,
    )
    return _save(graph, path)


def failing_yolo(
    path: Path, head: np.ndarray, fail_above_mean: float, input_size: int = 320
) -> Path:
    """Like :func:`constant_yolo`, but inference *raises* (onnxruntime's Gather bounds
    error) when the mean of the network input is above ``fail_above_mean``: a model that
    breaks on some images only, as an export bug hit by some content does.

    The output is ``head + Gather([0], [k * 1000])`` with ``k = mean > threshold``: the
    index is in bounds only when ``k`` is 0 (data-dependent, so no optimiser removes it).
    """
    head = np.asarray(head, np.float32)
    k = helper.make_tensor
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean4"], axes=[1, 2, 3], keepdims=0),
        helper.make_node(
            "Constant", [], ["thr"], value=k("thr", TensorProto.FLOAT, [1], [fail_above_mean])
        ),
        helper.make_node("Greater", ["mean4", "thr"], ["bad_b"]),
        helper.make_node("Cast", ["bad_b"], ["bad"], to=TensorProto.INT64),
        helper.make_node("Constant", [], ["far"], value=k("far", TensorProto.INT64, [1], [1000])),
        helper.make_node("Mul", ["bad", "far"], ["idx"]),
        helper.make_node("Constant", [], ["zero"], value=k("zero", TensorProto.FLOAT, [1], [0.0])),
        helper.make_node("Gather", ["zero", "idx"], ["g"], axis=0),
        helper.make_node("Add", ["head", "g"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "failing_yolo",
        [_image_input(input_size)],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(head.shape))],
        initializer=[numpy_helper.from_array(head, "head")],
    )
    return _save(graph, path)
