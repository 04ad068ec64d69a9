"""ByteTrack-style pedestrian tracker driven by elapsed time, not frame counts.

ByteTrack's idea: a low-confidence detection is usually a real person who is partly
occluded, so it should keep an existing track alive, but it is too unreliable to start
one. Association therefore runs in passes over IoU between Kalman-predicted track boxes
and detections:

1. high-score detections against established tracks (confirmed, tracked or lost);
2. the same, for what is left of both, with *buffered* IoU (boxes grown by the track's
   predicted-centre uncertainty, :func:`edge.track.iou.buffered_iou`);
3. low-score detections against the established tracks still unmatched;
4. high-score detections still unmatched against tentative tracks, buffered;
5. high-score detections still unmatched start new tentative tracks.

Established tracks go first so a duplicate box that just started a tentative track can
never take a detection away from a person already being followed.

In every pass IoU >= ``match_iou`` is the gate (which pairs may match at all) and the
Kalman negative log-likelihood ranks the allowed pairs (which of them do): when two
people overlap, IoU barely separates them, but a box's height and foot line do, and the
likelihood weighs those by how sure each track is. Among allowed pairs the matching
with the most pairs, then the least total cost, wins (scipy's linear_sum_assignment).
Measured on the synthetic scenes of the tests, ranking by likelihood instead of IoU cut
id switches modestly: 56 → 44 over 200 crossings where the rear person is hidden, and
115 → 108 over 30 crowded 25 s scenes.

Why the buffered passes: plain IoU needs prediction and detection to overlap. A young
track has no velocity yet and a long time step (slow analysis rate, motion-gate gaps,
occlusion) lets a person move more than a box width, so plain IoU alone drops them and
starts new ids. Growing boxes by the track's uncertainty reaches them; doing it only
*after* the plain pass matters because a grown box scores higher IoU against far
detections, which in a crowd would let an uncertain track (a person hidden behind
another) take a neighbour's detection.

Lifecycle:

* tentative: created from one high-score detection; becomes confirmed (and only then
  gets its public id) after ``min_hits`` matched updates; dies at its first miss, so a
  one-frame false positive never becomes a track or consumes an id.
* confirmed and matched: reported in :class:`Tracks` with the matched detection box.
* lost: a confirmed track without a match; not reported, but still predicted and
  re-associated if a detection comes back near the prediction. It is removed when it is
  unmatched at an update more than ``max_lost_s`` seconds after its last match; its id is
  then reported once in ``Tracks.removed_ids``.

Time: ``t`` is seconds on a monotonic clock. The Kalman prediction uses ``t - t_prev``,
so skipped frames (an update with empty detections) and gaps (no update at all) are both
fine. They differ in one way: an empty update says "nobody was seen", so a track whose
last match is older than ``max_lost_s`` is removed there; after a gap without updates a
track can still be re-associated at the next update if the person is where predicted.

The tracker is class-agnostic: every detection is treated as a pedestrian (filtering
classes is the detector plugin's job).
"""

from __future__ import annotations

import math

import numpy as np

from edge.config import TrackerConfig
from edge.detectors.base import Detections
from edge.track.assign import match_gated
from edge.track.base import Tracks
from edge.track.iou import buffered_iou
from edge.track.kalman import NDIM, BoxKalman, KalmanNoise, cxcywh_to_xyxy, xyxy_to_cxcywh

_STATE = 2 * NDIM
# Coordinates beyond this many pixels are a detector bug, not a frame; they would
# overflow the squared noises, so such boxes are ignored like NaN ones.
_MAX_ABS_COORD = 1.0e6
# Largest buffer, as a fraction of the predicted width/height (see _margins).
MAX_BUFFER = 0.5


class ByteTracker:
    """Multi-object tracker implementing :class:`edge.track.base.Tracker`.

    State is kept as parallel arrays (one row per live track) so prediction, IoU and
    Kalman updates are a few vectorised numpy calls per frame.

    >>> tr = ByteTracker(TrackerConfig(min_hits=2))
    >>> det = Detections(np.array([[10, 10, 30, 60]], np.float32), np.array([0.9], np.float32))
    >>> len(tr.update(det, 0.0)), tr.update(det, 0.1).track_ids.tolist()
    (0, [1])
    """

    def __init__(
        self, cfg: TrackerConfig, noise: KalmanNoise | None = None, buffer_sigmas: float = 1.0
    ) -> None:
        """Args:
        cfg: thresholds and time limits (the camera's ``tracker:`` section).
        noise: Kalman noise levels; the defaults suit walking people.
        buffer_sigmas: each pair's boxes grow by this many standard deviations of the
            track's predicted centre before IoU (see :func:`buffered_iou`).
        """
        if cfg.low_threshold > cfg.high_threshold:
            raise ValueError(
                f"tracker.low_threshold: must be <= tracker.high_threshold "
                f"({cfg.low_threshold} > {cfg.high_threshold})"
            )
        self.cfg = cfg
        self._kf = BoxKalman(noise)
        self._buffer_sigmas = float(buffer_sigmas)
        self._mean = np.zeros((0, _STATE))
        self._cov = np.zeros((0, _STATE, _STATE))
        self._ids = np.zeros((0,), np.int64)  # 0 while tentative
        self._hits = np.zeros((0,), np.int64)
        self._last_match_t = np.zeros((0,), np.float64)
        self._tracked = np.zeros((0,), bool)  # matched at the previous update
        self._t_prev: float | None = None
        self._next_id = 1

    def reset(self) -> np.ndarray:
        """End every track (after a gap in frames nobody can be followed across it);
        returns the ids of the confirmed tracks that ended. Ids are never reused."""
        ended = np.sort(self._ids[self._ids > 0]).astype(np.int64)
        self._keep(np.zeros(len(self._ids), bool))
        self._t_prev = None
        return ended

    def __len__(self) -> int:
        """Live tracks of any state (tentative, confirmed, lost)."""
        return len(self._ids)

    def predicted_xyxy(self) -> np.ndarray:
        """Current state boxes ``(N, 4)`` of all live tracks (for drawing/debugging)."""
        return cxcywh_to_xyxy(self._mean).astype(np.float32)

    def update(self, detections: Detections, t: float) -> Tracks:
        """Associate one frame's detections, seen at ``t`` seconds, with the tracks.

        Raises:
            ValueError: ``t`` is not finite or is earlier than the previous update's.
        """
        t = float(t)
        if not math.isfinite(t):
            raise ValueError(f"tracker update: t must be a finite time in seconds, got {t}")
        if self._t_prev is not None and t < self._t_prev:
            raise ValueError(
                f"tracker update: t went backwards ({t} < {self._t_prev}); "
                "use a monotonic clock or create a new tracker"
            )
        dt = 0.0 if self._t_prev is None else t - self._t_prev
        self._t_prev = t

        det_xyxy, det_scores = self._usable(detections)
        self._predict(dt)

        high = det_scores >= self.cfg.high_threshold
        high_idx = np.flatnonzero(high)
        low_idx = np.flatnonzero(~high)
        track_boxes = cxcywh_to_xyxy(self._mean)
        det_cxcywh = xyxy_to_cxcywh(det_xyxy)
        margins = self._margins()
        established = np.flatnonzero(self._ids > 0)
        tentative = np.flatnonzero(self._ids == 0)

        matched_tracks: list[np.ndarray] = [np.zeros(0, np.int64)]
        matched_dets: list[np.ndarray] = [np.zeros(0, np.int64)]

        no_margin = np.zeros_like(margins)

        def associate(
            tracks: np.ndarray, dets: np.ndarray, buffered: bool
        ) -> tuple[np.ndarray, np.ndarray]:
            """One pass; records pairs, returns the unmatched tracks and detections."""
            if len(tracks) == 0 or len(dets) == 0:
                return tracks, dets
            grow = (margins if buffered else no_margin)[tracks]
            iou = buffered_iou(track_boxes[tracks], det_xyxy[dets], grow)
            nll = self._kf.nll(self._mean[tracks], self._cov[tracks], det_cxcywh[dets])
            m = match_gated(nll, iou >= self.cfg.match_iou)
            matched_tracks.append(tracks[m.pairs[:, 0]])
            matched_dets.append(dets[m.pairs[:, 1]])
            return tracks[m.unmatched_rows], dets[m.unmatched_cols]

        established, high_idx = associate(established, high_idx, buffered=False)
        established, high_idx = associate(established, high_idx, buffered=True)
        associate(established, low_idx, buffered=False)
        _, new_idx = associate(tentative, high_idx, buffered=True)

        rows = np.concatenate(matched_tracks)
        cols = np.concatenate(matched_dets)
        return self._commit(
            t, rows, det_xyxy[cols], det_scores[cols], det_xyxy[new_idx], det_scores[new_idx]
        )

    def _margins(self) -> np.ndarray:
        """``(N, 2)`` buffer per track: k·σ of the predicted centre, capped by box size.

        The cap (half the box, the larger of C-BIoU's two buffers) stops a track lost for
        a second, whose σ has grown past a body width, from reaching random boxes.
        """
        sigma = np.sqrt(np.maximum(self._cov[:, [0, 1], [0, 1]], 0.0))
        cap = MAX_BUFFER * np.maximum(self._mean[:, 2:4], 0.0)
        return np.minimum(self._buffer_sigmas * sigma, cap)

    def _usable(self, detections: Detections) -> tuple[np.ndarray, np.ndarray]:
        """Detections worth tracking: finite, in-range box of positive width and height,
        score >= low_threshold. A zero-area box has IoU 0 with everything, so it could
        only ever start a track that nothing joins: it is dropped instead."""
        xyxy = np.asarray(detections.xyxy, np.float64).reshape(-1, 4)
        scores = np.asarray(detections.scores, np.float64).reshape(-1)
        keep = (np.abs(xyxy) <= _MAX_ABS_COORD).all(axis=1) & np.isfinite(scores)
        keep &= (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        keep &= scores >= self.cfg.low_threshold
        return xyxy[keep], scores[keep]

    def _predict(self, dt: float) -> None:
        """Move every track to the current time; lost tracks stop changing size."""
        if len(self._ids) == 0:
            return
        # A box that is not observed should not shrink or grow without bound.
        self._mean[~self._tracked, NDIM + 2 :] = 0.0
        self._mean, self._cov = self._kf.predict(self._mean, self._cov, dt)

    def _commit(
        self,
        t: float,
        rows: np.ndarray,
        boxes: np.ndarray,
        scores: np.ndarray,
        new_boxes: np.ndarray,
        new_scores: np.ndarray,
    ) -> Tracks:
        """Apply matches, age out lost tracks, start new ones, build the result."""
        if len(rows):
            self._mean[rows], self._cov[rows] = self._kf.update(
                self._mean[rows], self._cov[rows], xyxy_to_cxcywh(boxes)
            )
        matched = np.zeros(len(self._ids), bool)
        matched[rows] = True
        self._hits[rows] += 1
        self._last_match_t[rows] = t
        self._tracked = matched

        # Per-track box/score of this update (only meaningful where matched).
        out_box = np.zeros((len(self._ids), 4))
        out_score = np.zeros(len(self._ids))
        out_box[rows] = boxes
        out_score[rows] = scores

        confirmed = self._ids > 0
        expired = ~matched & confirmed & (t - self._last_match_t > self.cfg.max_lost_s)
        dead = expired | (~matched & ~confirmed)
        removed_ids = self._ids[expired]
        keep = ~dead
        self._keep(keep)
        out_box, out_score = out_box[keep], out_score[keep]

        self._spawn(t, new_boxes)
        out_box = np.concatenate([out_box, new_boxes])
        out_score = np.concatenate([out_score, new_scores])

        promote = (self._ids == 0) & (self._hits >= self.cfg.min_hits)
        n_promote = int(promote.sum())
        self._ids[promote] = np.arange(self._next_id, self._next_id + n_promote)
        self._next_id += n_promote

        show = self._tracked & (self._ids > 0)
        order = np.argsort(self._ids[show], kind="stable")
        return Tracks(
            xyxy=out_box[show][order].astype(np.float32),
            track_ids=self._ids[show][order].copy(),
            scores=out_score[show][order].astype(np.float32),
            removed_ids=np.sort(removed_ids).astype(np.int64),
        )

    def _keep(self, keep: np.ndarray) -> None:
        """Drop the rows of tracks that ended."""
        self._mean, self._cov = self._mean[keep], self._cov[keep]
        self._ids, self._hits = self._ids[keep], self._hits[keep]
        self._last_match_t, self._tracked = self._last_match_t[keep], self._tracked[keep]

    def _spawn(self, t: float, boxes: np.ndarray) -> None:
        """Start tentative tracks (matched once, at ``t``) from ``(K, 4)`` boxes."""
        k = len(boxes)
        if k == 0:
            return
        mean, cov = self._kf.initiate(xyxy_to_cxcywh(boxes))
        self._mean = np.concatenate([self._mean, mean])
        self._cov = np.concatenate([self._cov, cov])
        self._ids = np.concatenate([self._ids, np.zeros(k, np.int64)])
        self._hits = np.concatenate([self._hits, np.ones(k, np.int64)])
        self._last_match_t = np.concatenate([self._last_match_t, np.full(k, t)])
        self._tracked = np.concatenate([self._tracked, np.ones(k, bool)])
