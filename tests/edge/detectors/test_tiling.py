"""Tiled detection: the plans cover every person whole, merging keeps each person once, and
on the 1080p sample scene tiles find small pedestrians the squeezed region misses."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from edge.config import DetectorConfig, TilingConfig
from edge.detectors import create_detector
from edge.detectors.region import wrap_for_region
from edge.detectors.tiling import (
    Perspective,
    TiledDetector,
    merge_boxes,
    plan_perspective_tiles,
    plan_tiles,
)
from edge.evaluation import detection_recall_by_size
from tests.edge.detectors.yolo_graphs import bright_box_yolo

SCENE = Path(__file__).resolve().parents[3] / "sample_media" / "scenes" / "hd_crossing"


def _inside(box: tuple[float, ...], tile: tuple[int, ...]) -> bool:
    return tile[0] <= box[0] and tile[1] <= box[1] and box[2] <= tile[2] and box[3] <= tile[3]


@settings(max_examples=200, deadline=None)
@given(
    w=st.integers(200, 3840),
    h=st.integers(200, 2160),
    tile=st.integers(100, 800),
    frac=st.floats(0.05, 0.6),
    data=st.data(),
)
def test_grid_holds_every_box_up_to_the_overlap_whole(w, h, tile, frac, data) -> None:
    overlap = max(1, int(tile * frac))
    plan = plan_tiles((0, 0, w, h), tile, overlap)
    if not plan.tiles:  # region within one tile: the full pass sees it all
        assert w <= tile and h <= tile
        return
    for t in plan.tiles:
        assert 0 <= t[0] < t[2] <= w and 0 <= t[1] < t[3] <= h
    bw = data.draw(st.integers(1, min(overlap, w)))
    bh = data.draw(st.integers(1, min(overlap, h)))
    x = data.draw(st.integers(0, w - bw))
    y = data.draw(st.integers(0, h - bh))
    assert any(_inside((x, y, x + bw, y + bh), t) for t in plan.tiles)


PERSPECTIVE = Perspective(far_y=358, far_px=55, near_y=596, near_px=97)
REGION = (0, 0, 1352, 1014)


def test_perspective_tiles_grow_towards_the_camera() -> None:
    plan = plan_perspective_tiles(REGION, PERSPECTIVE, 300, 80)
    sides = [t[3] - t[1] for t in plan.tiles]
    tops = [t[1] for t in plan.tiles]
    assert sides == sorted(sides) and tops == sorted(tops)
    # The first row shows a far-kerb person at >= 80 px of the 300-px input.
    assert 55 * 300 / sides[0] >= 80 - 1
    assert plan.full_pass and plan.inferences_per_frame == len(plan.tiles) + 1


@settings(max_examples=300, deadline=None)
@given(x=st.floats(0, 1352), y=st.floats(358, 596 + 97))
def test_perspective_tiles_hold_each_person_near_the_zone_whole(x: float, y: float) -> None:
    plan = plan_perspective_tiles(REGION, PERSPECTIVE, 300, 80)
    h = PERSPECTIVE.height(y)
    w = 0.5 * h
    x = min(max(x, w / 2), 1352 - w / 2)
    box = (x - w / 2, y - h, x + w / 2, y)
    assert any(_inside(box, t) for t in plan.tiles), box


def test_a_person_across_tile_edges_is_reported_once_whole(tmp_path: Path) -> None:
    # A real ONNX graph that reports the box of red pixels in whatever crop it is given:
    # tiles that cut the red figure report a cut box; only the whole one may survive.
    det = create_detector(
        DetectorConfig(
            model=str(bright_box_yolo(tmp_path / "b.onnx", "yolo_nms", 256)),
            layout="yolo_nms",
            score_threshold=0.4,
        )
    )
    frame = np.zeros((1000, 1000, 3), np.uint8)
    # 4x4 tiles of 400 at x, y = 0, 200, 400, 600: the figure straddles the edges x 400 and
    # y 400 of the first tiles and lies whole only in the tile at (200, 200).
    frame[280:400, 370:420] = (0, 0, 255)
    tiled = TiledDetector(det, lambda w, h: plan_tiles((0, 0, w, h), 400, 150, full_pass=False))
    found = tiled.detect(frame)
    assert len(tiled.plan.tiles) == 16  # type: ignore[union-attr]
    assert len(found) == 1
    np.testing.assert_allclose(found.xyxy[0], (370, 280, 420, 400), atol=1000 / 256 + 1)


def test_containment_keeps_the_whole_person_not_its_half() -> None:
    boxes = np.array([[100, 100, 140, 200], [102, 102, 138, 150]], np.float32)
    assert merge_boxes(boxes, np.array([0.6, 0.9], np.float32), 0.5).tolist() == [0]


def test_tiling_config_errors_name_the_key() -> None:
    with pytest.raises(ValidationError, match=r"tiling\.mode 'on' needs tiling\.tile_px"):
        TilingConfig(mode="on")
    with pytest.raises(ValidationError, match="overlap_px must be smaller"):
        TilingConfig(mode="on", tile_px=300, overlap_px=300)


@pytest.mark.slow
def test_tiles_find_far_kerb_pedestrians_the_squeezed_region_misses() -> None:
    """Real SSD on real-composited 1080p frames with people 40-70 px at the far kerb."""
    from edge.config import load_camera_config

    cfg = load_camera_config(SCENE / "camera.yaml")
    truth = json.loads((SCENE / "boxes.json").read_text())["frames"]
    off = cfg.detector.model_copy(update={"tiling": TilingConfig(mode="off")})
    untiled = wrap_for_region(create_detector(off), off, cfg.crossing.zone)
    tiled = wrap_for_region(create_detector(cfg.detector), cfg.detector, cfg.crossing.zone)
    wanted = [95, 125, 150, 175]  # frames with several far-kerb people (boxes.json)
    cap = cv2.VideoCapture(str(SCENE / "video.mp4"))
    frames, i = {}, 0
    while len(frames) < len(wanted):
        ok, img = cap.read()
        assert ok
        if i in wanted:
            frames[i] = img
        i += 1
    cap.release()
    got = {}
    for name, det in (("untiled", untiled), ("tiled", tiled)):
        bands, _ = detection_recall_by_size(
            [truth[i] for i in wanted], [det.detect(frames[i]) for i in wanted]
        )
        got[name] = bands[0]
    assert got["tiled"].total >= 8  # the frames do hold small people
    assert got["tiled"].found > got["untiled"].found, got
    assert tiled.plan is not None and len(tiled.plan.tiles) > 1  # type: ignore[attr-defined]
