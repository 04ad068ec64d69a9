"""Evidence anonymisation: pixels of bystander faces change, a matched violator's do not."""

from __future__ import annotations

import numpy as np
import pytest

from edge.faces.anonymise import face_region
from edge.faces.config import FacesConfig
from edge.faces.stage import ViolatorFaces
from tests.edge.faces.helpers import background, laplacian_energy, paste, photo


@pytest.fixture(scope="module")
def scene(detector):
    """Violator (obama3) on the left, two bystanders (biden, astronaut) on the right."""
    frame = background().copy()
    violator = paste(frame, photo("obama3"), 80, 150, 420)
    paste(frame, photo("biden"), 600, 120, 380)
    paste(frame, photo("astronaut"), 950, 300, 260)
    faces = detector.detect_tiled(frame, 0.5)
    assert len(faces) == 3
    regions = [np.array(face_region(f, frame.shape)) for f in faces.xywh]
    inside = [r[0] >= violator[0] and r[2] <= violator[2] for r in regions]
    assert sum(inside) == 1
    v = regions[inside.index(True)]
    others = [r for r, i in zip(regions, inside, strict=True) if not i]
    return frame, violator, v, others, faces


def identity_kept(embedder, before, after, faces, i) -> float:
    """Cosine between the face before and after anonymising (same landmarks)."""
    a = embedder.embed(before, faces.xywh[i], faces.landmarks[i])
    b = embedder.embed(after, faces.xywh[i], faces.landmarks[i])
    return float(a @ b)


@pytest.fixture(scope="module")
def stage(detector, embedders):
    return ViolatorFaces(FacesConfig(), None, detector=detector, embedder=embedders["sface"])


def test_matched_violator_kept_bystanders_blurred(scene, stage, embedders):
    frame, violator, v_region, bystanders, faces = scene
    out, n = stage.anonymise(frame, violator, keep_violator_face=True)
    assert n == 2
    x1, y1, x2, y2 = v_region
    assert np.array_equal(out[y1:y2, x1:x2], frame[y1:y2, x1:x2])
    for r in bystanders:
        assert laplacian_energy(out, r) < 0.05 * laplacian_energy(frame, r)
    # Identity is gone: a blurred face no longer matches itself at the shipped threshold.
    sface, thr = embedders["sface"], FacesConfig().thresholds["sface"]
    sims = sorted(identity_kept(sface, frame, out, faces, i) for i in range(len(faces)))
    assert sims[0] < thr and sims[1] < thr and sims[2] > 0.99  # violator's unchanged


def test_unidentified_violator_blurred_too(scene, stage, embedders):
    frame, violator, v_region, bystanders, faces = scene
    out, n = stage.anonymise(frame, violator, keep_violator_face=False)
    assert n == 3
    for r in [v_region, *bystanders]:
        assert laplacian_energy(out, r) < 0.05 * laplacian_energy(frame, r)
    sface, thr = embedders["sface"], FacesConfig().thresholds["sface"]
    assert all(identity_kept(sface, frame, out, faces, i) < thr for i in range(len(faces)))


def test_small_faces_in_a_large_frame_are_found_by_tiling(detector):
    """A 2560x1440 frame: 30-px faces vanish at 640 px unless tiles are scanned."""
    frame = background(1440, 2560, seed=1).copy()
    boxes = [
        paste(frame, photo(n), 300 + 700 * i, 600, 110)
        for i, n in enumerate(["biden", "astronaut", "obama3"])
    ]
    whole = detector.detect(frame, 0.5)
    tiled = detector.detect_tiled(frame, 0.5)
    assert len(tiled) == 3 > len(whole)
    centres = tiled.xywh[:, :2] + tiled.xywh[:, 2:] / 2
    for b in boxes:
        assert any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for cx, cy in centres)
