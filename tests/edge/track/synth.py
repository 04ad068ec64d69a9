"""Synthetic pedestrians for tracker tests: ground-truth paths, noisy detections, metrics.

Each pedestrian walks at constant velocity with a gait-like width swing; the detector
model adds box jitter proportional to the box height, random misses, occlusion windows
(no detection at all), optional low-score windows and false positives. Every detection
remembers which pedestrian produced it, and :func:`run_and_score` computes CLEAR-MOT
style counts (id switches, misses, false positives, MOTA) from the tracker's output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edge.detectors.base import Detections
from edge.track.base import Tracker, Tracks
from edge.track.iou import box_iou


@dataclass(frozen=True)
class Pedestrian:
    """One ground-truth person: foot-centre start, velocity (px/s), height in px."""

    x0: float
    y0: float
    vx: float
    vy: float
    height: float
    t_start: float = 0.0
    t_end: float = float("inf")
    occluded: Sequence[tuple[float, float]] = ()  # no detection in [a, b)
    low_score: Sequence[tuple[float, float]] = ()  # detected, but with a low score
    gait_phase: float = 0.0

    def present(self, t: float) -> bool:
        return self.t_start <= t < self.t_end

    def box(self, t: float) -> np.ndarray:
        """True ``[x1, y1, x2, y2]`` at ``t`` (width swings ±12% at ~1.8 strides/s)."""
        dt = t - self.t_start
        cx = self.x0 + self.vx * dt
        foot = self.y0 + self.vy * dt
        w = 0.4 * self.height * (1.0 + 0.12 * np.sin(2 * np.pi * 1.8 * dt + self.gait_phase))
        return np.array([cx - w / 2, foot - self.height, cx + w / 2, foot])

    def visible(self, t: float) -> bool:
        return self.present(t) and not any(a <= t < b for a, b in self.occluded)

    def low(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.low_score)


@dataclass(frozen=True)
class DetectorModel:
    """How the fake detector errs. Jitter is a fraction of the box height."""

    jitter: float = 0.03
    miss_rate: float = 0.0
    fp_per_frame: float = 0.0
    high_score: tuple[float, float] = (0.6, 0.95)
    low_score: tuple[float, float] = (0.25, 0.45)
    frame_wh: tuple[int, int] = (1280, 720)
    # A person overlapping a nearer one by more than this is not detected (as with a
    # real detector's non-maximum suppression at its usual 0.5).
    hide_iou: float = 0.5


@dataclass
class Frame:
    """One analysed frame: time, detections, and the truth behind them."""

    t: float
    detections: Detections
    det_gt: np.ndarray  # (N,) pedestrian index per detection, -1 for a false positive
    gt_boxes: dict[int, np.ndarray] = field(default_factory=dict)  # visible people only


def make_frames(
    peds: Sequence[Pedestrian],
    times: Iterable[float],
    model: DetectorModel,
    rng: np.random.Generator,
) -> list[Frame]:
    """Render noisy detections of ``peds`` at each time in ``times``.

    A person counts as visible (ground truth) when at least half their box is inside
    the frame, they are not in a scripted occlusion window, and no nearer person (larger
    foot y) overlaps them by more than ``model.hide_iou``, the way a real detector's
    non-maximum suppression drops the person behind. Visible people are then missed at
    ``model.miss_rate``; detection boxes are jittered and clipped to the frame.
    """
    fw, fh = model.frame_wh
    frame_box = np.array([[0.0, 0.0, fw, fh]])
    frames = []
    for t in times:
        cand = [i for i, p in enumerate(peds) if p.visible(t)]
        true = {i: peds[i].box(t) for i in cand}
        gt: dict[int, np.ndarray] = {}
        for i in sorted(cand, key=lambda i: -true[i][3]):  # nearest first
            box = true[i]
            area = (box[2] - box[0]) * (box[3] - box[1])
            inside = np.clip(
                np.minimum(box[2:], frame_box[0, 2:]) - np.maximum(box[:2], 0.0), 0.0, None
            ).prod()
            if inside < 0.5 * area:
                continue
            if gt and box_iou(box[None], np.array(list(gt.values()))).max() > model.hide_iou:
                continue
            gt[i] = box
        boxes, scores, owners = [], [], []
        for i, box in gt.items():
            if rng.random() < model.miss_rate:
                continue
            h = box[3] - box[1]
            noisy = box + rng.normal(0.0, model.jitter * h, 4)
            boxes.append(np.clip(noisy, 0.0, [fw, fh, fw, fh]))
            lo, hi = model.low_score if peds[i].low(t) else model.high_score
            scores.append(rng.uniform(lo, hi))
            owners.append(i)
        for _ in range(rng.poisson(model.fp_per_frame)):
            h = rng.uniform(60, 250)
            x, y = rng.uniform(0, fw - 0.4 * h), rng.uniform(0, fh - h)
            boxes.append(np.array([x, y, x + 0.4 * h, y + h]))
            scores.append(rng.uniform(*model.high_score))
            owners.append(-1)
        det = Detections(
            np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32)
        )
        frames.append(Frame(float(t), det, np.asarray(owners, np.int64), gt))
    return frames


@dataclass
class Score:
    """CLEAR-MOT style counts over a sequence."""

    gt_total: int = 0  # visible ground-truth objects summed over frames
    matches: int = 0
    misses: int = 0
    false_positives: int = 0
    id_switches: int = 0
    ids_per_gt: dict[int, set[int]] = field(default_factory=dict)
    removed: list[int] = field(default_factory=list)
    outputs: list[Tracks] = field(default_factory=list)

    @property
    def mota(self) -> float:
        return 1.0 - (self.misses + self.false_positives + self.id_switches) / max(self.gt_total, 1)


def run_and_score(
    tracker: Tracker,
    frames: Sequence[Frame],
    on_frame: Callable[[Frame, Tracks], None] | None = None,
) -> Score:
    """Feed ``frames`` to ``tracker`` and score its tracks against the truth.

    The tracker returns the matched detection boxes, so each output box is traced back
    to the detection it came from and hence to the person who produced it: no IoU
    matching is needed and two people side by side cannot be confused by the metric.
    An id switch is a person reported under a track id other than the one it was last
    reported under (the CLEAR-MOT definition); an output traced to a false-positive
    detection (or to no detection) is a false positive; a visible person without an
    output is a miss.
    """
    score = Score()
    last_id: dict[int, int] = {}
    for fr in frames:
        out = tracker.update(fr.detections, fr.t)
        score.outputs.append(out)
        score.removed.extend(out.removed_ids.tolist())
        if on_frame is not None:
            on_frame(fr, out)
        score.gt_total += len(fr.gt_boxes)
        seen: set[int] = set()
        for box, tid in zip(out.xyxy, out.track_ids.tolist(), strict=True):
            same = np.flatnonzero((fr.detections.xyxy == box).all(axis=1))
            g = int(fr.det_gt[same[0]]) if len(same) else -1
            if g < 0 or g in seen:
                score.false_positives += 1
                continue
            seen.add(g)
            score.matches += 1
            score.ids_per_gt.setdefault(g, set()).add(tid)
            if g in last_id and last_id[g] != tid:
                score.id_switches += 1
            last_id[g] = tid
        score.misses += len(fr.gt_boxes) - len(seen)
    return score


def regular_times(duration: float, fps: float, t0: float = 0.0) -> np.ndarray:
    """Evenly spaced analysis times over ``[t0, t0 + duration)``."""
    return t0 + np.arange(0.0, duration, 1.0 / fps)


def crosswalk_scene(
    rng: np.random.Generator, n: int, arrivals_s: float, frame_wh: tuple[int, int] = (1280, 720)
) -> list[Pedestrian]:
    """``n`` people crossing a street left↔right in a camera view with perspective.

    The crosswalk is a band of foot lines ``y`` in ``[0.55, 0.95]`` of the frame
    height; a person's height in pixels grows with ``y`` (about 1.7 m at the scale of
    their foot line), walking speed is 1.1–1.7 m/s at that scale, and arrivals are
    uniform over ``arrivals_s`` seconds from either kerb.
    """
    fw, fh = frame_wh
    peds = []
    for _ in range(n):
        y = rng.uniform(0.55, 0.95) * fh
        h = 0.28 * y  # px; 1.7 m at this depth
        speed = rng.uniform(1.1, 1.7) / 1.7 * h  # px/s
        from_left = rng.random() < 0.5
        x0 = -0.2 * h if from_left else fw + 0.2 * h
        peds.append(
            Pedestrian(
                x0=x0,
                y0=y,
                vx=speed if from_left else -speed,
                vy=rng.normal(0.0, 0.05 * speed),
                height=h,
                t_start=rng.uniform(0.0, arrivals_s),
                gait_phase=rng.uniform(0.0, 2 * np.pi),
            )
        )
    return peds
