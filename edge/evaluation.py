"""Score the pipeline against a scene's ground truth (precision and recall).

A ground-truth file (``sample_media/scenes/*/ground_truth.json``) lists the expected
violations with their entry time and foot point, and the tolerance for matching.
Matching is one-to-one and greedy by time difference, so a double report of one
violation counts as a false positive, never as two hits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class SceneScore:
    scene: str
    expected: int
    reported: int
    matched: int
    missed: list[str]  # ground-truth ids not found
    false_positives: list[dict[str, Any]]  # reported violations matching nothing

    @property
    def precision(self) -> float:
        return self.matched / self.reported if self.reported else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 1.0


def match_violations(
    expected: list[dict[str, Any]], reported: list[dict[str, Any]], dt_s: float, foot_px: float
) -> list[tuple[int, int]]:
    """Pairs (expected index, reported index), one-to-one, closest in time first.

    >>> exp = [{"t_entry_s": 5.0, "foot_xy": [100, 200]}]
    >>> rep = [{"t": 5.4, "foot": [110, 205]}, {"t": 5.5, "foot": [112, 204]}]
    >>> match_violations(exp, rep, dt_s=1.0, foot_px=30)
    [(0, 0)]
    """
    candidates = []
    for i, e in enumerate(expected):
        for j, r in enumerate(reported):
            dt = abs(float(r["t"]) - float(e["t_entry_s"]))
            dx = float(r["foot"][0]) - float(e["foot_xy"][0])
            dy = float(r["foot"][1]) - float(e["foot_xy"][1])
            if dt <= dt_s and (dx * dx + dy * dy) ** 0.5 <= foot_px:
                candidates.append((dt, i, j))
    pairs, used_e, used_r = [], set(), set()
    for _dt, i, j in sorted(candidates):
        if i not in used_e and j not in used_r:
            pairs.append((i, j))
            used_e.add(i)
            used_r.add(j)
    return sorted(pairs)


def score_scene(ground_truth: Path, reported: list[dict[str, Any]]) -> SceneScore:
    gt = json.loads(ground_truth.read_text())
    expected = gt["expected_violations"]
    tol = gt.get("match_tolerance", {})
    pairs = match_violations(
        expected, reported, float(tol.get("dt_s", 1.0)), float(tol.get("foot_px", 40))
    )
    got_e = {i for i, _ in pairs}
    got_r = {j for _, j in pairs}
    return SceneScore(
        scene=str(gt.get("scene", ground_truth.parent.name)),
        expected=len(expected),
        reported=len(reported),
        matched=len(pairs),
        missed=[str(e.get("id", i)) for i, e in enumerate(expected) if i not in got_e],
        false_positives=[r for j, r in enumerate(reported) if j not in got_r],
    )


def run_scene(
    scene_dir: Path, gallery: Path | None = None, *, model: str | None = None
) -> list[dict[str, Any]]:
    """Run the offline pipeline over a scene folder; returns the violation records.

    ``model`` replaces the camera.yaml's ``detector.model`` (a manifest name or a path),
    so another detector is scored on the same scene with everything else unchanged.
    """
    from edge.capture import VideoFileSource
    from edge.config import load_camera_config
    from edge.pipeline import build_pipeline

    gt = json.loads((scene_dir / "ground_truth.json").read_text())
    cfg = load_camera_config(scene_dir / gt.get("camera_yaml", "camera.yaml"))
    if model is not None:
        cfg = cfg.model_copy(update={"detector": cfg.detector.model_copy(update={"model": model})})
    pipeline = build_pipeline(cfg, "config", gallery=gallery)
    out = []
    for frame in VideoFileSource(scene_dir / gt["video"], cfg.fps):
        out += [v.to_json() for v in pipeline.process(frame)]
    out += [v.to_json() for v in pipeline.flush()]
    return out


SIZE_BANDS: tuple[tuple[float, float], ...] = ((40, 70), (70, 100), (100, 160))


@dataclass(frozen=True, slots=True)
class BandRecall:
    """Detection recall of ground-truth person boxes whose height lies in ``[lo, hi)``."""

    lo: float
    hi: float
    found: int
    total: int

    @property
    def recall(self) -> float | None:
        return self.found / self.total if self.total else None


def detection_recall_by_size(
    truth: list[list[dict[str, Any]]],
    detections: list[Any],
    *,
    iou: float = 0.5,
    max_covered: float = 0.5,
    bands: tuple[tuple[float, float], ...] = SIZE_BANDS,
    foot_rows: tuple[float, float] | None = None,
) -> tuple[list[BandRecall], int]:
    """Per-frame detection recall per person-height band, and the unmatched detections.

    ``truth[i]`` holds frame ``i``'s drawn boxes (``{"box", "full", "covered"}``, as in a
    scene's boxes.json); only whole people (not cut by the frame edge) hidden by at most
    ``max_covered`` of their box count, and with ``foot_rows = (y0, y1)`` only people whose
    feet are on those rows (near the zone: the people the rule must see). A detection
    matches one truth box, one-to-one, at IoU ≥ ``iou``.

    >>> import numpy as np
    >>> from edge.detectors.base import Detections
    >>> truth = [[{"box": [0, 0, 20, 50], "full": True, "covered": 0.0},
    ...           {"box": [100, 0, 130, 80], "full": True, "covered": 0.0}]]
    >>> det = Detections(np.array([[1, 1, 20, 52]], np.float32), np.array([0.9], np.float32))
    >>> bands, fp = detection_recall_by_size(truth, [det])
    >>> [(b.lo, b.found, b.total) for b in bands]
    [(40, 1, 1), (70, 0, 1), (100, 0, 0)]
    >>> fp
    0
    """
    import numpy as np

    from edge.detectors.nms import box_iou_one_to_many

    found = [0] * len(bands)
    total = [0] * len(bands)
    unmatched = 0
    for boxes, det in zip(truth, detections, strict=True):
        free = np.ones(len(det), bool)
        for t in boxes:
            h = t["box"][3] - t["box"][1]
            k = next((k for k, (lo, hi) in enumerate(bands) if lo <= h < hi), None)
            if k is None or not t["full"] or t["covered"] > max_covered:
                continue
            if foot_rows is not None and not foot_rows[0] <= t["box"][3] <= foot_rows[1]:
                continue
            total[k] += 1
            if len(det) and free.any():
                ious = box_iou_one_to_many(np.array(t["box"], np.float32), det.xyxy)
                ious[~free] = 0
                j = int(np.argmax(ious))
                if ious[j] >= iou:
                    free[j] = False
                    found[k] += 1
        unmatched += int(free.sum())
    out = [BandRecall(lo, hi, f, n) for (lo, hi), f, n in zip(bands, found, total, strict=True)]
    return out, unmatched
