"""Tiled detection: small pedestrians in a wide region, at the detector's native size.

A 300x300 SSD that sees a 1500x1080 region of a 1080p frame shrinks a 55-px person at
the far kerb to ~15 px, below anything it finds. Cutting the region into overlapping
square tiles of about the size that brings that person to a detectable height, running
the detector on each and merging the boxes is what slicing-aided inference (SAHI) does;
it costs one inference per tile, so the plan is made once per camera and reported.

Merging, and why:

* Tiles overlap by at least the tallest person expected, so everyone lies wholly inside
  some tile; a box that touches a tile's *inner* edge is a cut person and is dropped
  (its whole version comes from a neighbouring tile).
* One extra pass over the whole region finds people too large for a tile.
* Greedy NMS across all boxes, then containment: a box holding two or more others is a
  group seen as one (dropped for its members); a box mostly inside one larger box is a
  part of a person (a limb, half a person at a tile edge) and is dropped.

>>> plan = plan_tiles((0, 0, 1000, 500), tile_px=400, overlap_px=100)
>>> len(plan.tiles), plan.tiles[0], plan.tiles[-1]
(6, (0, 0, 400, 400), (600, 100, 1000, 500))
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge.detectors.base import Detections, Detector
from edge.detectors.nms import nms

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]

# Width / height beyond which a box holding a smaller one is taken for two people seen as
# one (a standing or walking person's box is about 0.3-0.5 as wide as tall).
PERSON_MAX_ASPECT = 0.6

# Person height in detector-input pixels from which the shipped SSD finds ~90% of people:
# measured on sample_media/scenes/hd_crossing's far kerb (people 40-70 px): tiles of 300,
# 200 and 150 px (a 55-px person at 55, 82 and 110 input px) found 63%, 89% and 95%.
SSD_MIN_INPUT_PX = 80.0
# The same for YOLO-family models (trained with small objects at 640; not measured here:
# no YOLO model exists offline).
YOLO_MIN_INPUT_PX = 32.0


@dataclass(frozen=True, slots=True)
class TilePlan:
    """Where the detector looks in one camera's frames.

    Attributes:
        region: ``(x1, y1, x2, y2)`` the tiles cover.
        tiles: square tiles ``(x1, y1, x2, y2)`` inside ``region`` (empty = no tiling).
        full_pass: whether the whole region is also run once (large people).
    """

    region: Box
    tiles: tuple[Box, ...]
    full_pass: bool = True

    @property
    def inferences_per_frame(self) -> int:
        return len(self.tiles) + int(self.full_pass or not self.tiles)


def _starts(lo: int, hi: int, tile: int, overlap: int) -> list[int]:
    """Tile start positions covering ``[lo, hi)`` with at least ``overlap`` between tiles."""
    length = hi - lo
    if tile >= length:
        return [lo]
    n = math.ceil((length - overlap) / (tile - overlap))
    step = (length - tile) / (n - 1) if n > 1 else 0
    return [lo + round(k * step) for k in range(n)]


def plan_tiles(region: Box, tile_px: int, overlap_px: int, full_pass: bool = True) -> TilePlan:
    """Square tiles of ``tile_px`` over ``region``, evenly spread, overlapping ≥ ``overlap_px``.

    A region no larger than one tile gets no tiles (the full pass alone covers it).
    """
    x1, y1, x2, y2 = region
    if overlap_px >= tile_px:
        raise ValueError(f"overlap_px {overlap_px} must be below tile_px {tile_px}")
    if x2 - x1 <= tile_px and y2 - y1 <= tile_px:
        return TilePlan(region, (), True)
    side_x, side_y = min(tile_px, x2 - x1), min(tile_px, y2 - y1)
    tiles = tuple(
        (tx, ty, tx + side_x, ty + side_y)
        for ty in _starts(y1, y2, side_y, min(overlap_px, side_y - 1))
        for tx in _starts(x1, x2, side_x, min(overlap_px, side_x - 1))
    )
    return TilePlan(region, tiles, full_pass)


def auto_tile_px(
    region: Box, native_px: int, min_person_px: float, min_input_px: float
) -> int | None:
    """Tile side that shows a ``min_person_px`` person ``min_input_px`` tall to the detector.

    ``None`` when the region squeezed whole already does (no tiling needed). The detector
    resizes whatever it gets to ``native_px``; the region's longer side sets the squeeze.

    >>> auto_tile_px((0, 0, 1500, 1080), 300, 55, 40)   # 55 px person -> 11 px: tile
    412
    >>> auto_tile_px((0, 0, 400, 300), 300, 55, 40) is None   # 41 px already
    True
    """
    longer = max(region[2] - region[0], region[3] - region[1])
    if min_person_px * native_px / longer >= min_input_px:
        return None
    return max(native_px, math.floor(native_px * min_person_px / min_input_px))


@dataclass(frozen=True, slots=True)
class Perspective:
    """Expected person height as a function of the foot row, from two installer readings.

    ``far_px`` tall at the zone's top-most row ``far_y``, ``near_px`` at its bottom-most row
    ``near_y``; linear between and beyond, never below ``far_px`` (people further away than
    the far kerb are not yet the rule's concern, and the full pass still sees them).

    >>> p = Perspective(far_y=400, far_px=50, near_y=600, near_px=100)
    >>> p.height(400), p.height(500), p.height(100)
    (50.0, 75.0, 50.0)
    """

    far_y: float
    far_px: float
    near_y: float
    near_px: float

    def height(self, y: float) -> float:
        if self.near_y <= self.far_y:
            return float(self.far_px)
        slope = (self.near_px - self.far_px) / (self.near_y - self.far_y)
        return float(max(self.far_px, self.far_px + slope * (y - self.far_y)))


def plan_perspective_tiles(
    region: Box,
    perspective: Perspective,
    native_px: int,
    min_input_px: float,
    full_pass: bool = True,
) -> TilePlan:
    """Rows of square tiles sized to the people expected in them (small far, large near).

    Each row's tile side shows the row's smallest person (feet near its top) at
    ``min_input_px`` to a detector of input ``native_px``; rows overlap by the tallest
    person in the upper row and tiles within a row by ~0.6 of it, so everyone is whole in
    some tile. Rows start 2.5 far-kerb heights above the zone (people about to step in)
    and stop a body height below the zone's near edge, or where a tile would be as large as
    the region: the full pass covers the rest.

    >>> plan = plan_perspective_tiles((0, 0, 1352, 1014), Perspective(358, 55, 596, 97), 300, 80)
    >>> len(plan.tiles), plan.tiles[0][3] - plan.tiles[0][1], plan.inferences_per_frame
    (21, 206, 22)
    """
    rx1, ry1, rx2, ry2 = region
    k = native_px / min_input_px
    limit = min(rx2 - rx1, ry2 - ry1)
    h = perspective.height
    y0 = max(float(ry1), perspective.far_y - 2.5 * perspective.far_px)
    # Feet further than a body height below the zone's near edge are not about to enter.
    y_end = min(float(ry2), perspective.near_y + h(perspective.near_y))
    tiles: list[Box] = []
    while y0 < y_end - h(y0):
        side = k * h(y0 + h(y0))
        if side >= limit:
            break
        side_i = max(32, round(side))
        # Down, not to the nearest pixel: rounding up ate into the overlap below, and a
        # person whose feet were a fraction of a pixel lower was whole in no tile.
        top = min(math.floor(y0), ry2 - side_i)
        tall = h(top + side_i)
        overlap = min(side_i - 1, round(0.6 * tall))
        for tx in _starts(rx1, rx2, side_i, overlap):
            tiles.append((tx, top, tx + side_i, top + side_i))
        if top + side_i >= ry2:
            break
        y0 = max(top + side_i - tall, y0 + side_i / 4)
    return TilePlan(region, tuple(tiles), full_pass or not tiles)


def _cut_by_inner_edge(xyxy: np.ndarray, tile: Box, region: Box, margin: float = 2.0) -> np.ndarray:
    """Mask of boxes touching an edge of ``tile`` that is not also an edge of ``region``."""
    tx1, ty1, tx2, ty2 = tile
    rx1, ry1, rx2, ry2 = region
    cut = np.zeros(len(xyxy), bool)
    if tx1 > rx1:
        cut |= xyxy[:, 0] <= tx1 + margin
    if ty1 > ry1:
        cut |= xyxy[:, 1] <= ty1 + margin
    if tx2 < rx2:
        cut |= xyxy[:, 2] >= tx2 - margin
    if ty2 < ry2:
        cut |= xyxy[:, 3] >= ty2 - margin
    return cut


def merge_boxes(
    xyxy: np.ndarray, scores: np.ndarray, iou: float, contained: float = 0.8
) -> np.ndarray:
    """Indices kept: NMS at ``iou``, then the containment rules, largest box first.

    When a box lies mostly inside a larger one, the larger is either a group seen as one
    at low resolution (two people side by side make a box wider than a person: wider than
    ``PERSON_MAX_ASPECT``, or holding two or more boxes) and gives way to the people in it,
    or it is a person and the smaller box is a part of them (a limb, half a person at a
    tile edge), which is dropped whatever its score. A box wider than a person that
    overlaps two or more person-shaped boxes is also a group (spanning their inner halves).

    >>> b = np.array([[0, 0, 10, 30], [1, 1, 9, 14], [20, 0, 30, 30]], np.float32)
    >>> merge_boxes(b, np.array([0.9, 0.95, 0.8], np.float32), 0.5).tolist()
    [0, 2]
    >>> pair = np.array([[0, 0, 28, 40], [0, 0, 12, 40]], np.float32)  # group + one member
    >>> merge_boxes(pair, np.array([0.9, 0.7], np.float32), 0.5).tolist()
    [1]
    >>> span = np.array([[8, 0, 40, 40], [0, 0, 14, 40], [34, 0, 48, 40]], np.float32)
    >>> merge_boxes(span, np.array([0.9, 0.8, 0.8], np.float32), 0.5).tolist()
    [1, 2]
    """
    keep = nms(xyxy, scores, iou)
    areas = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    aspect = (xyxy[:, 2] - xyxy[:, 0]) / np.maximum(xyxy[:, 3] - xyxy[:, 1], 1e-6)
    keep = [int(i) for i in keep[np.argsort(-areas[keep], kind="stable")]]

    def inside(i: int, j: int) -> bool:
        """Is box ``i`` mostly inside box ``j``?"""
        w = min(xyxy[i, 2], xyxy[j, 2]) - max(xyxy[i, 0], xyxy[j, 0])
        h = min(xyxy[i, 3], xyxy[j, 3]) - max(xyxy[i, 1], xyxy[j, 1])
        return bool(w > 0 and h > 0 and w * h >= contained * max(areas[i], 1e-6))

    def touches(i: int, j: int) -> bool:
        """Does box ``i`` share at least a tenth of its area with box ``j``?"""
        w = min(xyxy[i, 2], xyxy[j, 2]) - max(xyxy[i, 0], xyxy[j, 0])
        h = min(xyxy[i, 3], xyxy[j, 3]) - max(xyxy[i, 1], xyxy[j, 1])
        return bool(w > 0 and h > 0 and w * h >= 0.1 * max(areas[i], 1e-6))

    held = {j: [i for i in keep if i != j and inside(i, j)] for j in keep}
    groups = {j for j in keep if held[j] and (len(held[j]) >= 2 or aspect[j] > PERSON_MAX_ASPECT)}
    # A wide box over parts of two or more narrower people: the pair seen as one.
    narrow = [i for i in keep if aspect[i] <= PERSON_MAX_ASPECT]
    groups |= {
        j
        for j in keep
        if aspect[j] > PERSON_MAX_ASPECT and sum(touches(i, j) for i in narrow if i != j) >= 2
    }
    out: list[int] = []
    for i in keep:
        if i in groups:
            continue
        if not any(inside(i, j) for j in out):
            out.append(i)
    return np.asarray(sorted(out), np.int64)


class TiledDetector:
    """Wraps any detector: overlapping tiles over a region (+ one full pass), merged.

    ``plan`` is made at the first frame from its size (the zone is known before the frame
    size is) by ``make_plan(width, height)``, and logged with its cost.
    """

    def __init__(
        self,
        inner: Detector,
        make_plan: Callable[[int, int], TilePlan],
        nms_iou: float = 0.5,
    ) -> None:
        self.inner = inner
        self._make_plan = make_plan
        self._nms_iou = nms_iou
        self.plan: TilePlan | None = None

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        h, w = frame_bgr.shape[:2]
        if self.plan is None:
            self.plan = self._make_plan(w, h)
            log.info(
                "detector: region %s in %d tile(s)%s = %d inference(s) per analysed frame",
                self.plan.region,
                len(self.plan.tiles),
                " + the whole region" if self.plan.full_pass and self.plan.tiles else "",
                self.plan.inferences_per_frame,
            )
        plan = self.plan
        boxes: list[tuple[Box, Box | None]] = []
        if plan.full_pass or not plan.tiles:
            boxes.append((plan.region, None))
        boxes.extend((tile, plan.region) for tile in plan.tiles)
        parts = [p for p in self._run_all(frame_bgr, boxes) if len(p)]
        if not parts:
            return Detections.empty()
        xyxy = np.concatenate([p.xyxy for p in parts])
        scores = np.concatenate([p.scores for p in parts])
        class_ids = np.concatenate([p.class_ids for p in parts])
        keep = merge_boxes(xyxy, scores, self._nms_iou)
        return Detections(xyxy[keep], scores[keep], class_ids[keep])

    def _run_all(self, frame: np.ndarray, boxes: list[tuple[Box, Box | None]]) -> list[Detections]:
        """Detect inside each ``(box, region)``; boxes in frame pixels; cut ones dropped
        for a tile (``region`` set). All crops go to the detector at once when it takes
        several (the gateway's pool batches them into few inferences)."""
        fh, fw = frame.shape[:2]
        crops, where = [], []
        for box, region in boxes:
            x1, y1, x2, y2 = max(0, box[0]), max(0, box[1]), min(fw, box[2]), min(fh, box[3])
            if x2 - x1 < 8 or y2 - y1 < 8:
                continue
            crops.append(np.ascontiguousarray(frame[y1:y2, x1:x2]))
            where.append(((x1, y1, x2, y2), region))
        many = getattr(self.inner, "detect_many", None)
        found = many(crops) if many is not None else [self.inner.detect(c) for c in crops]
        out = []
        for dets, (clipped, region) in zip(found, where, strict=True):
            if len(dets) == 0:
                continue
            x1, y1 = clipped[0], clipped[1]
            xyxy = (dets.xyxy + np.array([x1, y1, x1, y1], np.float32)).astype(np.float32)
            dets = Detections(xyxy, dets.scores, dets.class_ids)
            if region is not None:
                dets = dets.filter(~_cut_by_inner_edge(dets.xyxy, clipped, region))
            out.append(dets)
        return out
