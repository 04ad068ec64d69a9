"""The face stage the edge pipeline calls for a flagged violator — and only for one.

Privacy by construction: faces are searched for only inside the flagged track's person
box, embeddings are computed only for that track's kept faces, and ``anonymise`` blurs
every face in an evidence image except the matched violator's (an unidentified violator's
face is blurred too). Nothing of bystanders is embedded or kept.

Pipeline use::

    faces = ViolatorFaces(cfg.faces, Gallery.load(path))
    faces.observe(track_id, frame, person_xyxy, t)     # every frame while flagged
    if faces.ready(track_id, t) or track_ended:
        decision = faces.decide(track_id)               # frees the track's buffers
    matched = decision.match is not None
    img, n_blurred = faces.anonymise(frame, person_xyxy, keep_violator_face=matched)
"""

from __future__ import annotations

import numpy as np

from edge.faces.anonymise import blur_faces, violator_face_index
from edge.faces.bestshot import FaceShot, TrackFaces
from edge.faces.config import FacesConfig
from edge.faces.decision import FaceDecision, FaceMatch
from edge.faces.detect import YuNetDetector
from edge.faces.embed import Embedder, make_embedder
from edge.faces.match import GalleryMatcher
from edge.faces.quality import assess
from edge.gallery.store import Gallery

STALE_AFTER_S = 60.0


class ViolatorFaces:
    """Face detection, quality gate, best shot, embedding and matching for flagged tracks."""

    def __init__(
        self,
        cfg: FacesConfig,
        gallery: Gallery | None,
        *,
        detector: YuNetDetector | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.cfg = cfg
        self.detector = detector or YuNetDetector(cfg.detector_model, cfg.threads)
        self._embedder = embedder
        self._matcher: GalleryMatcher | None = None
        if gallery is not None:
            emb = self.embedder  # checks backend + model sha256 against the gallery now
            self._matcher = GalleryMatcher(gallery, emb.backend, emb.model_sha256, cfg)
        self._tracks: dict[int, TrackFaces] = {}

    def set_gallery(self, gallery: Gallery | None) -> None:
        """Swap in a new gallery (edge/gallery_sync.py) between decisions.

        The matcher is built first (checking backend and model sha256, raising
        GalleryError) and then replaced by one reference assignment, so a decision sees
        either the old gallery or the new one, never a mix; an erased person is gone
        from the next decision on.
        """
        if gallery is None:
            self._matcher = None
            return
        emb = self.embedder
        self._matcher = GalleryMatcher(gallery, emb.backend, emb.model_sha256, self.cfg)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.cfg.backend, self.cfg.sface_model, self.cfg.threads)
        return self._embedder

    def observe(
        self, track_id: int, frame_bgr: np.ndarray, person_xyxy: np.ndarray, t: float
    ) -> None:
        """Look for the flagged person's face in this frame; keep it if it is a best shot."""
        cfg = self.cfg
        self._expire(t)
        tf = self._tracks.setdefault(track_id, TrackFaces(first_t=t))
        faces = self.detector.detect_in_box(
            frame_bgr, np.asarray(person_xyxy), cfg.detector_score, cfg.detect_max_upscale
        )
        if len(faces) == 0:
            return
        # One person, one face: the largest in the box (a second one belongs to someone
        # behind; it is neither embedded nor kept).
        i = int(np.argmax(faces.xywh[:, 2] * faces.xywh[:, 3]))
        tf.seen += 1
        q = assess(frame_bgr, faces.xywh[i], faces.landmarks[i], cfg.min_face_px, cfg.min_sharpness)
        if not q.ok:
            tf.rejected += 1
            return
        tf.offer(
            FaceShot.from_frame(frame_bgr, faces.xywh[i], faces.landmarks[i], q, t),
            cfg.max_faces_per_track,
        )

    def ready(self, track_id: int, t: float) -> bool:
        """Enough good faces kept, or ``decide_after_s`` passed since the first observation."""
        tf = self._tracks.get(track_id)
        if tf is None:
            return False
        return (
            len(tf.shots) >= self.cfg.max_faces_per_track
            or t - tf.first_t >= self.cfg.decide_after_s
        )

    def decide(self, track_id: int) -> FaceDecision:
        """Match the track's kept faces (or say why not) and free its buffers."""
        tf = self._tracks.pop(track_id, None)
        if tf is None:
            return FaceDecision(None, 0, 0, None, "track was never observed")
        if not tf.shots:
            why = (
                "no face found" if tf.seen == 0 else f"all {tf.seen} faces failed the quality gate"
            )
            return FaceDecision(None, tf.seen, 0, None, why)
        matcher = self._matcher  # one gallery for the whole decision, even mid-swap
        if matcher is None:
            return FaceDecision(None, tf.seen, 0, None, "no gallery loaded")
        emb = np.stack([self.embedder.embed(s.crop_bgr, s.xywh, s.landmarks) for s in tf.shots])
        weights = np.array([s.quality.weight for s in tf.shots])
        out = matcher.match(emb, weights)
        score = out.score if np.isfinite(out.score) else None
        if out.person_id is None:
            return FaceDecision(None, tf.seen, len(tf.shots), None, out.reason, score)
        m = FaceMatch(
            out.person_id,
            out.score,
            matcher.backend,
            self.cfg.threshold,
            matcher.gallery_version,
            out.alternatives,
        )
        return FaceDecision(m, tf.seen, len(tf.shots), tf.shots[0].face_jpeg(), "", score)

    def _expire(self, t: float) -> None:
        """Drop faces of tracks nobody decided on for long (a caller that lost a track
        must not make the stage keep a person's face forever)."""
        limit = max(STALE_AFTER_S, 10 * self.cfg.decide_after_s)
        for tid in [k for k, v in self._tracks.items() if t - v.first_t > limit]:
            del self._tracks[tid]

    def forget(self, track_id: int) -> None:
        """Drop a track's faces without deciding (e.g. the violation was withdrawn)."""
        self._tracks.pop(track_id, None)

    def anonymise(
        self, frame_bgr: np.ndarray, violator_xyxy: np.ndarray | None, keep_violator_face: bool
    ) -> tuple[np.ndarray, int]:
        """Evidence image with every face blurred except a matched violator's; and the count.

        ``keep_violator_face`` should be True only when ``decide`` returned a match.
        """
        faces = self.detector.detect_tiled(frame_bgr, self.cfg.anonymise_score)
        keep = None
        if keep_violator_face and violator_xyxy is not None:
            keep = violator_face_index(faces, np.asarray(violator_xyxy))
        return blur_faces(frame_bgr, faces, keep)
