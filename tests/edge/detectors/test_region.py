"""The detector region: crops where the rule applies, boxes come back in frame pixels."""

from __future__ import annotations

import numpy as np

from edge.detectors.base import Detections
from edge.detectors.region import RegionDetector, auto_region


class SeenShape:
    """A real-shaped stand-in that reports one box at the crop's centre (pure geometry test)."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        self.shapes.append(frame_bgr.shape)
        h, w = frame_bgr.shape[:2]
        return Detections(
            np.array([[w / 2 - 5, h / 2 - 10, w / 2 + 5, h / 2 + 10]], np.float32),
            np.array([0.9], np.float32),
        )


def test_boxes_are_shifted_back_to_frame_pixels() -> None:
    inner = SeenShape()
    det = RegionDetector(inner, (100, 50, 300, 250))
    out = det.detect(np.zeros((480, 640, 3), np.uint8))
    assert inner.shapes == [(200, 200, 3)]
    assert out.xyxy.tolist() == [[195.0, 140.0, 205.0, 160.0]]


def test_auto_region_is_computed_from_the_first_frame_and_clipped() -> None:
    zone = [(500, 300), (700, 300), (700, 470), (500, 470)]
    det = RegionDetector(SeenShape(), lambda w, h: auto_region(zone, w, h))
    det.detect(np.zeros((480, 640, 3), np.uint8))
    x1, y1, x2, y2 = det.region
    assert (x2, y2) == (640, 480)  # clipped
    assert x1 < 500 and y1 < 300  # the kerb around the zone is included


def test_region_outside_frame_gives_no_detections() -> None:
    det = RegionDetector(SeenShape(), (700, 500, 800, 600))
    assert len(det.detect(np.zeros((480, 640, 3), np.uint8))) == 0


def test_real_ssd_sees_more_people_in_the_region_than_in_the_squeezed_frame() -> None:
    """On the real sample video, two people side by side at the far kerb merge into one
    box when the whole 768×576 frame is squeezed into 300×300; in the region they don't."""
    from pathlib import Path

    import cv2

    from edge.config import load_camera_config
    from edge.detectors import create_detector

    scene = Path(__file__).resolve().parents[3] / "sample_media" / "scenes" / "vtest_road"
    cfg = load_camera_config(scene / "camera.yaml")
    full = create_detector(cfg.detector)
    region = RegionDetector(full, lambda w, h: auto_region(cfg.crossing.zone, w, h))
    cap = cv2.VideoCapture(str(scene / "video.mp4"))
    zone = np.asarray(cfg.crossing.zone)
    near_x = (zone[:, 0].min() - 30, zone[:, 0].max())

    def near_zone(d: Detections) -> int:
        foot_x = (d.xyxy[:, 0] + d.xyxy[:, 2]) / 2
        return int(((foot_x > near_x[0]) & (foot_x < near_x[1]) & (d.xyxy[:, 3] > 150)).sum())

    n_full = n_region = 0
    for i in range(100):
        ok, frame = cap.read()
        assert ok
        if 85 <= i < 100:  # three people walk up to and onto the road here
            n_full += near_zone(full.detect(frame))
            n_region += near_zone(region.detect(frame))
    cap.release()
    assert n_region > n_full
