"""Match a track's faces against the gallery: top-k, per-person fusion, threshold + margin.

Each face proposes candidates (its top-k gallery entries). Every candidate person is then
scored on *every* face as the best cosine against that person's enrolled photos, and the
per-face scores are averaged with the faces' quality weights. One lucky frame therefore
moves the average only by its weight, and a person must win on the whole track.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.faces.config import FacesConfig
from edge.gallery.index import SearchIndex, build_index
from edge.gallery.store import Gallery


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    person_id: str | None  # None: unidentified
    score: float  # fused score of the best candidate (nan without candidates)
    second_score: float  # fused score of the runner-up person (nan if none)
    reason: str  # why there is no match ("" when matched)
    # The next persons by fused score, best first (at most ``cfg.alternatives``), whether
    # above the threshold or not; only with a match: an unidentified violator gets none.
    alternatives: tuple[tuple[str, float], ...] = ()


class GalleryMatcher:
    """Searches one backend's block of a gallery; refuses a block made by another model."""

    def __init__(
        self,
        gallery: Gallery,
        backend: str,
        model_sha256: str,
        cfg: FacesConfig,
    ) -> None:
        block = gallery.block(backend, model_sha256)
        self.backend = backend
        self.gallery_version = gallery.gallery_version
        self._persons = gallery.persons
        self._emb = block.embeddings
        self._labels = block.labels
        self._index: SearchIndex = build_index(block.embeddings, cfg.index)
        self._cfg = cfg

    def match(self, embeddings: np.ndarray, weights: np.ndarray) -> MatchOutcome:
        """Fuse ``(M, d)`` face embeddings of one track (weights ``(M,)``) into one answer."""
        cfg = self._cfg
        emb = np.atleast_2d(np.asarray(embeddings, np.float32))
        w = np.asarray(weights, np.float64)
        nan = float("nan")
        if len(emb) < cfg.min_faces_to_decide:
            return MatchOutcome(
                None,
                nan,
                nan,
                f"{len(emb)} usable face(s) < min_faces_to_decide {cfg.min_faces_to_decide}",
            )
        if len(self._labels) == 0:
            return MatchOutcome(None, nan, nan, "gallery is empty")
        if not np.isfinite(w).all() or w.sum() <= 0:
            w = np.ones(len(emb))
        _, ids = self._index.search(emb, cfg.top_k)
        cand = np.unique(self._labels[ids[ids >= 0]])
        if len(cand) == 0:
            return MatchOutcome(None, nan, nan, "no candidates")
        # Person score per face = best cosine over that person's enrolled photos.
        rows = np.flatnonzero(np.isin(self._labels, cand))
        sims = emb @ self._emb[rows].T  # (M, R)
        row_person = np.searchsorted(cand, self._labels[rows])
        per_face = np.full((len(emb), len(cand)), -np.inf, np.float32)
        for j in range(len(cand)):
            per_face[:, j] = sims[:, row_person == j].max(axis=1)
        fused = (w[:, None] * per_face).sum(0) / w.sum()
        order = np.argsort(-fused)
        best = float(fused[order[0]])
        second = float(fused[order[1]]) if len(order) > 1 else nan
        thr = cfg.threshold
        if best < thr:
            return MatchOutcome(None, best, second, f"score {best:.3f} < threshold {thr:.3f}")
        if len(order) > 1 and best - second < cfg.margin:
            return MatchOutcome(
                None,
                best,
                second,
                f"margin {best - second:.3f} < {cfg.margin:.3f} over the runner-up",
            )
        runners = tuple(
            (self._persons[int(cand[j])], float(fused[j])) for j in order[1 : 1 + cfg.alternatives]
        )
        return MatchOutcome(self._persons[int(cand[order[0]])], best, second, "", runners)
