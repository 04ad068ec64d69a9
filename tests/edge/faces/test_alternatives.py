"""The matcher's runner-ups (``faces.alternatives``, issue 17) on real photos: sent with a
match only, ranked, with the scores the matcher fused; never for an unidentified violator."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from edge.faces.config import FacesConfig
from edge.faces.match import GalleryMatcher
from edge.faces.stage import ViolatorFaces
from tests.edge.faces.helpers import walking_frames


def _decide(cfg, gallery, detector, embedder, who: str, track: int = 7):
    stage = ViolatorFaces(cfg, gallery, detector=detector, embedder=embedder)
    for frame, box, t in walking_frames(who):
        stage.observe(track, frame, box, t)
    return stage, stage.decide(track)


def test_match_carries_the_runner_ups_ranked_with_their_fused_scores(
    detector, embedders, gallery_with_obama
):
    cfg = FacesConfig(alternatives=3)
    _, d = _decide(cfg, gallery_with_obama, detector, embedders["sface"], "obama3")
    assert d.match is not None and d.match.person_id == "p-obama", d.reason
    alts = d.match.alternatives
    # The gallery holds 3 persons: the two who are not the match, best first.
    assert [p for p, _ in alts] and {p for p, _ in alts} == {"p-biden", "p-astronaut"}
    scores = [s for _, s in alts]
    assert scores == sorted(scores, reverse=True)
    assert all(s < d.match.score for s in scores)
    # Below the threshold (the runner-ups of a clear match) and still sent: the margin
    # best - second is what tells the reviewer how clear the match was.
    assert scores[0] < cfg.threshold
    assert d.match.score - scores[0] >= cfg.margin


def test_the_scores_are_the_matchers_own(detector, embedders, gallery_with_obama):
    """The runner-up's score is the same fused second score the margin rule used."""
    cfg = FacesConfig(alternatives=1)
    emb = embedders["sface"]
    stage = ViolatorFaces(cfg, gallery_with_obama, detector=detector, embedder=emb)
    for frame, box, t in walking_frames("obama3"):
        stage.observe(1, frame, box, t)
    shots = stage._tracks[1].shots
    e = np.stack([emb.embed(s.crop_bgr, s.xywh, s.landmarks) for s in shots])
    w = np.array([s.quality.weight for s in shots])
    m = GalleryMatcher(gallery_with_obama, emb.backend, emb.model_sha256, cfg)
    out = m.match(e, w)
    assert out.person_id == "p-obama"
    assert len(out.alternatives) == 1
    assert out.alternatives[0][1] == pytest.approx(out.second_score)


def test_unidentified_violator_gets_no_alternatives(detector, embedders, gallery_without_obama):
    """Never identification after the fact: the persons the matcher ranked for an
    unidentified violator stay on the gateway (nothing of them is returned)."""
    cfg = FacesConfig(alternatives=3)
    _, d = _decide(cfg, gallery_without_obama, detector, embedders["sface"], "obama3")
    assert d.match is None and "threshold" in d.reason
    emb = embedders["sface"]
    m = GalleryMatcher(gallery_without_obama, emb.backend, emb.model_sha256, cfg)
    out = m.match(np.ones((2, emb.dim), np.float32) / np.sqrt(emb.dim), np.ones(2))
    assert out.person_id is None and out.alternatives == ()


def test_off_by_default_and_validated(detector, embedders, gallery_with_obama):
    _, d = _decide(FacesConfig(), gallery_with_obama, detector, embedders["sface"], "obama3")
    assert d.match is not None and d.match.alternatives == ()
    with pytest.raises(ValidationError, match="alternatives"):
        FacesConfig(alternatives=-1)
    with pytest.raises(ValidationError, match="alternatives"):
        FacesConfig(alternatives=11)
    with pytest.raises(ValidationError, match="alternatives: must be less than top_k"):
        FacesConfig(alternatives=3, top_k=3)
