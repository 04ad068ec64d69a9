"""The shipped pedestrian detector: SSDLite-MobileNetV2 from the TF Object Detection API.

The graph carries its own normalisation and NMS, so the plugin feeds a 300x300 RGB uint8
image, thresholds the scores and keeps the pedestrian class. The graph's NMS runs at IoU 0.6
(read from the file); it leaves pairs of boxes on one person (measured: IoU 0.58 on a
mirrored vtest frame), which would start two tracks, so a second pass at
``detector.nms_iou`` (0.45 by default, as for YOLO) removes them.

The frame is stretched to 300x300 without keeping its aspect ratio because that is how
the model was trained and how its package used it (models/README.md); the normalised
boxes then map back to the frame by plain scaling.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.detectors.base import Detections
from edge.detectors.frame import check_bgr_frame
from edge.detectors.model_io import ModelIO
from edge.detectors.nms import batched_nms
from edge.detectors.sanitize import BoxSanitizer

# Output names of a TF Object Detection API graph as tf2onnx names them.
_BOXES, _SCORES, _CLASSES = "detection_boxes", "detection_scores", "detection_classes"
_EXPECTED = (
    "one uint8 input [N,H,W,3] (RGB) and outputs detection_boxes [1,K,4] "
    "(normalised ymin,xmin,ymax,xmax), detection_scores [1,K], detection_classes [1,K]"
)


def _output_index(io: ModelIO, stem: str) -> int | None:
    for i, t in enumerate(io.outputs):
        if t.name.split(":")[0] == stem:
            return i
    return None


class SsdDetector:
    """TF-OD-API SSD graph with in-graph NMS; keeps only ``class_ids`` (1 = pedestrian)."""

    def __init__(
        self,
        session: Any,
        model_path: Path,
        *,
        score_threshold: float,
        class_ids: Sequence[int] = (1,),
        nms_iou: float | None = None,
        input_size: int = 300,
    ) -> None:
        io = ModelIO.of(session, model_path)
        idx = [_output_index(io, s) for s in (_BOXES, _SCORES, _CLASSES)]
        inp = io.inputs[0] if len(io.inputs) == 1 else None
        if (
            inp is None
            or inp.dtype != "uint8"
            or len(inp.shape) != 4
            or inp.shape[3] not in (None, 3)
            or None in idx
        ):
            raise io.error("ssd", _EXPECTED)
        self._session = session
        self._input_name = inp.name
        self._output_names = [io.outputs[i].name for i in idx]  # type: ignore[index]
        self._score_threshold = float(score_threshold)
        self._class_ids = np.asarray(sorted(set(class_ids)), np.int32)
        self._nms_iou = nms_iou
        self._size = int(input_size)
        self._batch_axis_free = inp.shape[0] is None
        self.model_path = model_path
        self.sanitizer = BoxSanitizer(str(model_path))

    @property
    def input_size(self) -> int:
        """Side of the square the frame is stretched to (tiling plans around it)."""
        return self._size

    def preprocess(self, frame_bgr: np.ndarray) -> np.ndarray:
        """BGR frame → ``(1, S, S, 3)`` uint8 RGB, stretched (no aspect preservation)."""
        small = cv2.resize(frame_bgr, (self._size, self._size), interpolation=cv2.INTER_LINEAR)
        return cv2.cvtColor(small, cv2.COLOR_BGR2RGB)[None]

    @property
    def batches(self) -> bool:
        """Whether several images can run in one inference (the input's batch axis is free)."""
        return self._batch_axis_free

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        return self.detect_batch([frame_bgr])[0]

    def detect_batch(self, frames_bgr: list[np.ndarray]) -> list[Detections]:
        """Detect in several images (frames of different cameras, or tiles) at once: one
        inference with a batch of ``len(frames_bgr)`` when the model allows it."""
        for f in frames_bgr:
            check_bgr_frame(f)
        if not frames_bgr:
            return []
        if len(frames_bgr) > 1 and not self._batch_axis_free:
            return [self.detect_batch([f])[0] for f in frames_bgr]
        blob = np.concatenate([self.preprocess(f) for f in frames_bgr])
        boxes, scores, classes = self._session.run(self._output_names, {self._input_name: blob})
        return [
            self._decode(boxes[i], scores[i], classes[i], f.shape[0], f.shape[1])
            for i, f in enumerate(frames_bgr)
        ]

    def _decode(
        self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, h: int, w: int
    ) -> Detections:
        boxes, scores = boxes.reshape(-1, 4), scores.reshape(-1)
        class_ids = np.rint(classes.reshape(-1)).astype(np.int32)
        keep = (scores >= self._score_threshold) & np.isin(class_ids, self._class_ids)
        yxyx = boxes[keep].astype(np.float32) * np.array([h, w, h, w], np.float32)
        xyxy, kept_scores, kept_ids = self.sanitizer.clean(
            yxyx[:, [1, 0, 3, 2]], scores[keep], class_ids[keep], w, h
        )
        det = Detections(xyxy, kept_scores, kept_ids)
        if self._nms_iou is None or len(det) < 2:
            return det
        return det.filter(batched_nms(det.xyxy, det.scores, det.class_ids, self._nms_iou))
