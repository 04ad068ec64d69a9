"""The whole pipeline on every sample scene, against its ground truth.

Real ONNX models on real (and real-composited) video; precision and recall must both
reach 0.9 on each scene (issue 2).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.evaluation import run_scene, score_scene

SCENES = sorted(
    (Path(__file__).resolve().parents[2] / "sample_media" / "scenes").glob("*/ground_truth.json")
)


def test_there_are_scenes() -> None:
    assert len(SCENES) >= 2, "sample_media/scenes should hold a real and a synthetic scene"


@pytest.mark.slow
@pytest.mark.parametrize("gt", SCENES, ids=[p.parent.name for p in SCENES])
def test_precision_and_recall_on_scene(gt: Path) -> None:
    reported = run_scene(gt.parent)
    score = score_scene(gt, reported)
    fps = [(r["t"], r["track_id"]) for r in score.false_positives]
    detail = f"missed {score.missed}, false positives {fps}"
    assert score.precision >= 0.9, detail
    assert score.recall >= 0.9, detail
