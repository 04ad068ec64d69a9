"""Pedestrian detector plugins; :func:`create_detector` picks one from the camera config.

Heavy imports (onnxruntime, OpenCV) happen inside the factory so that importing
``edge.detectors`` for its types stays cheap (the CLI imports it to register commands).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge.detectors.base import Detections, Detector

if TYPE_CHECKING:
    from edge.config import DetectorConfig

__all__ = ["Detections", "Detector", "create_detector"]

# Class index of "pedestrian" in the shipped SSD graph (0 is background).
SSD_PEDESTRIAN_CLASS = 1


def create_detector(
    cfg: DetectorConfig, threads: int | None = None, inter_op_threads: int = 1
) -> Detector:
    """Open ``cfg.model`` (sha256-checked if a manifest name) as the ``cfg.layout`` plugin.

    ``threads`` overrides ``cfg.threads`` (the gateway's thread plan, edge/thread_plan.py).

    Raises:
        edge.model_files.ModelFileError: missing file, sha256 mismatch, unloadable model,
            or (its subclass ``ModelLayoutError``) inputs/outputs that do not fit
            ``cfg.layout``; the message is one line naming the file and what was expected.
    """
    from edge.model_files import create_session, resolve_model

    path = resolve_model(cfg.model)
    session = create_session(path, threads or cfg.threads, inter_op_threads=inter_op_threads)
    if cfg.layout == "ssd":
        from edge.detectors.ssd import SsdDetector

        return SsdDetector(
            session,
            path,
            score_threshold=cfg.score_threshold,
            class_ids=(SSD_PEDESTRIAN_CLASS,),
            nms_iou=cfg.nms_iou,
        )
    from edge.detectors.yolo import YoloDetector

    return YoloDetector(
        session,
        path,
        layout=cfg.layout,
        input_size=cfg.input_size,
        person_class_ids=cfg.person_class_ids,
        score_threshold=cfg.score_threshold,
        nms_iou=cfg.nms_iou,
    )
