"""End to end on sample_media/faces/scene: ``jaywatch gallery build`` then
``jaywatch edge process --gallery``: the enrolled violator is matched from a different
photo, the non-enrolled one is null, and every other face in the evidence is blurred."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from edge.faces.anonymise import face_region
from jaywatch_app.cli import main
from tests.edge.faces.helpers import PHOTOS, REPO, laplacian_energy

SCENE = REPO / "sample_media" / "faces" / "scene"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("face_scene")
    for pid, names in {"p-obama": ["obama", "obama2"], "p-astronaut": ["astronaut"]}.items():
        (tmp / "photos" / pid).mkdir(parents=True)
        for n in names:
            shutil.copy(PHOTOS / f"{n}.jpg", tmp / "photos" / pid)
    assert (
        main(
            [
                "gallery",
                "build",
                str(tmp / "photos"),
                "--out",
                str(tmp / "g.npz"),
                "--backend",
                "sface",
            ]
        )
        == 0
    )
    out = tmp / "out"
    rc = main([
        "edge", "process", str(SCENE / "video.mp4"), "--camera", str(SCENE / "camera.yaml"),
        "--gallery", str(tmp / "g.npz"), "--out", str(out), "--json",
    ])  # fmt: skip
    assert rc == 0
    lines = (out / "violations.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines], out


def raw_frame(index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(SCENE / "video.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok
    return frame


def test_matches_as_ground_truth_says(run):
    violations, _ = run
    truth = json.loads((SCENE / "ground_truth.json").read_text())["expected_violations"]
    assert len(violations) == len(truth) == 2
    for v, gt in zip(sorted(violations, key=lambda v: v["frame"]), truth, strict=True):
        assert abs(v["frame"] - gt["frame"]) <= 10
        got = v["match"]["person_id"] if v["match"] else None
        assert got == gt["expected_match"]
        assert v["faces_used"] >= 2


def test_evidence_faces_blurred(run, detector):
    violations, out = run
    for v in violations:
        matched = v["match"] is not None
        roles = {e["role"]: e for e in v["evidence"]}
        assert ("face" in roles) == matched  # a face crop only for a match
        stills = [f for f in v["evidence_files"] if f.endswith(".jpg")]
        for f, e in zip(stills, v["evidence"], strict=True):
            if e["role"] == "face":
                continue
            assert e["blurred_faces"] >= 1
            shot = cv2.imread(str(out / f))
            raw = raw_frame(e["frame"])
            faces = detector.detect(raw, 0.7)
            x1, y1, x2, y2 = v["bbox"]
            kept, blurred = [], 0
            for xywh in faces.xywh:
                r = np.array(face_region(xywh, raw.shape))
                ratio = laplacian_energy(shot, r) / laplacian_energy(raw, r)
                if ratio > 0.5:  # unchanged but for JPEG re-encoding
                    kept.append(xywh[:2] + xywh[2:] / 2)
                else:
                    assert ratio < 0.1
                    blurred += 1
            assert blurred >= 1  # the bystander (and an unidentified violator)
            # Only a matched violator's face is kept, and on the entry frame it is seen
            # (2 s later, on "after", A is half out of the picture: no face to keep).
            assert len(kept) == (1 if matched and e["role"] == "entry" else len(kept))
            assert len(kept) <= (1 if matched else 0)
            if kept and e["role"] == "entry":
                cx, cy = kept[0]
                assert x1 <= cx <= x2 and y1 <= cy <= y2  # the kept face is the violator's
