"""The violator face stage on frames built from real photos (obama3.jpg is never enrolled)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.faces.config import FacesConfig
from edge.faces.evaluate import PUBLISHED
from edge.faces.stage import ViolatorFaces
from edge.gallery.store import GalleryError
from tests.edge.faces.helpers import walking_frames


def config_for(backend: str) -> FacesConfig:
    """The shipped config; for dlib at the library's own published operating point.

    The shipped dlib threshold (docs/face-accuracy.md: impostors reached 0.93) is so high
    that dlib practically never matches; the published point still shows that the dlib
    path (detection, alignment, embedding, fusion) works end to end.
    """
    if backend == "sface":
        return FacesConfig()
    return FacesConfig(backend="dlib", thresholds={"sface": 0.4, "dlib": PUBLISHED["dlib"]})


class CountingEmbedder:
    """Wraps a real embedder and records what it was asked to embed."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.backend, self.dim, self.model_sha256 = inner.backend, inner.dim, inner.model_sha256
        self.crops: list[np.ndarray] = []

    def embed(self, image, xywh, landmarks):
        self.crops.append(image)
        return self.inner.embed(image, xywh, landmarks)


@pytest.mark.parametrize("backend", ["sface", "dlib"])
def test_enrolled_violator_is_matched_from_a_different_photo(
    backend, detector, embedders, gallery_with_obama
):
    cfg = config_for(backend)
    stage = ViolatorFaces(cfg, gallery_with_obama, detector=detector, embedder=embedders[backend])
    for frame, box, t in walking_frames("obama3"):
        stage.observe(3, frame, box, t)
    d = stage.decide(3)
    assert d.match is not None, d.reason
    assert d.match.person_id == "p-obama"
    assert d.match.backend == backend
    assert d.match.score >= d.match.threshold == cfg.threshold
    assert d.match.gallery_version == gallery_with_obama.gallery_version
    assert d.faces_used >= FacesConfig().min_faces_to_decide
    face = cv2.imdecode(np.frombuffer(d.face_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert face is not None and min(face.shape[:2]) >= 32
    # decide() frees the track: a second call knows nothing of it.
    assert stage.decide(3).match is None


@pytest.mark.parametrize("backend", ["sface", "dlib"])
def test_non_enrolled_violator_is_unidentified(backend, detector, embedders, gallery_without_obama):
    cfg = config_for(backend)
    stage = ViolatorFaces(
        cfg, gallery_without_obama, detector=detector, embedder=embedders[backend]
    )
    for frame, box, t in walking_frames("obama3"):
        stage.observe(5, frame, box, t)
    d = stage.decide(5)
    assert d.match is None
    assert d.face_jpeg is None  # nothing of an unidentified person is kept
    assert d.faces_used >= 2 and "threshold" in d.reason


def test_only_the_flagged_person_is_embedded(detector, embedders, gallery_with_obama):
    """A bystander in every frame is never embedded: embedding count and crops prove it."""
    counting = CountingEmbedder(embedders["sface"])
    cfg = FacesConfig(max_faces_per_track=3, min_faces_to_decide=2)
    stage = ViolatorFaces(cfg, gallery_with_obama, detector=detector, embedder=counting)
    frames = list(walking_frames("obama3", bystander="biden"))
    for frame, box, t in frames:
        stage.observe(1, frame, box, t)
    assert counting.crops == []  # nothing is embedded before the decision
    d = stage.decide(1)
    assert len(counting.crops) == d.faces_used <= cfg.max_faces_per_track
    assert d.match is not None and d.match.person_id == "p-obama"
    # Every embedded face is the violator's: it matches Obama, not the bystander Biden.
    sface = embedders["sface"]
    block = gallery_with_obama.block("sface", sface.model_sha256)
    biden = block.embeddings[gallery_with_obama.persons.index("p-biden") == block.labels][0]
    for crop in counting.crops:
        faces = detector.detect(crop, 0.7)
        v = sface.embed(crop, faces.xywh[0], faces.landmarks[0])
        assert float(v @ biden) < FacesConfig().thresholds["sface"]


def test_one_good_face_decides_nothing(detector, embedders, gallery_with_obama):
    stage = ViolatorFaces(
        FacesConfig(), gallery_with_obama, detector=detector, embedder=embedders["sface"]
    )
    frame, box, t = next(iter(walking_frames("obama3")))
    stage.observe(9, frame, box, t)
    assert not stage.ready(9, t + 0.1)
    assert stage.ready(9, t + FacesConfig().decide_after_s)
    d = stage.decide(9)
    assert d.match is None and "min_faces_to_decide" in d.reason


def test_faces_too_small_fail_the_quality_gate(detector, embedders, gallery_with_obama):
    stage = ViolatorFaces(
        FacesConfig(), gallery_with_obama, detector=detector, embedder=embedders["sface"]
    )
    for frame, box, t in walking_frames("obama3", height=150):  # faces ~17-20 px
        stage.observe(2, frame, box, t)
    d = stage.decide(2)
    assert d.match is None
    assert d.faces_used == 0 and d.faces_seen > 0 and "quality" in d.reason


def test_gallery_of_another_model_is_refused(detector, embedders, gallery_with_obama):
    class OtherModel(CountingEmbedder):
        pass

    other = OtherModel(embedders["sface"])
    other.model_sha256 = "0" * 64
    with pytest.raises(GalleryError, match="cannot be compared"):
        ViolatorFaces(FacesConfig(), gallery_with_obama, detector=detector, embedder=other)


def test_undecided_tracks_are_dropped_after_a_while(detector, embedders, gallery_with_obama):
    stage = ViolatorFaces(
        FacesConfig(), gallery_with_obama, detector=detector, embedder=embedders["sface"]
    )
    frames = list(walking_frames("obama3", n=2))
    stage.observe(1, *frames[0])
    stage.observe(2, frames[1][0], frames[1][1], 10.0)
    assert stage.ready(1, 10.0)  # still held: 10 s is not stale
    stage.observe(2, frames[1][0], frames[1][1], 1000.0)
    assert not stage.ready(1, 1000.0)
    assert stage.decide(1).reason == "track was never observed"
