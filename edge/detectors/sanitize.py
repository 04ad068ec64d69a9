"""The one place where a model's raw numbers become boxes the tracker may see.

Users bring their own detector files, and a model can put anything in its output: NaN
or inf (an fp16 overflow), 1e30, boxes with x2 < x1 or no area, boxes wholly outside
the image, scores above 1 (logits without their sigmoid) or below 0. Passed on, one NaN
box suppresses every other box in NMS (its IoU compares false), an inf score outranks
every person, and the tracker matches on garbage. Every plugin therefore runs its
candidates, in frame pixels, through :meth:`BoxSanitizer.clean` before NMS: bad rows
are dropped, boxes are clipped to the frame, and what was dropped is counted and
logged with a rate-limited warning naming the model (the counts are on the sanitizer
for health/benches).

Also here: the cap on candidates. A raw head whose every cell passes the score
threshold (a broken model, or a threshold near 0) gives NMS tens of thousands of boxes;
only the best ``max_candidates`` go on (as Ultralytics' ``max_nms``), counted too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

import numpy as np

log = logging.getLogger(__name__)

# Scores a hair above 1 are float rounding in a sigmoid/softmax, not a broken model.
_SCORE_SLACK = 1e-3
_MIN_SIDE_PX = 1.0  # after clipping: anything thinner is not a person
MAX_CANDIDATES = 3000  # per image into NMS; a street scene has tens of people, not thousands
WARN_EVERY_S = 60.0

REASONS = {
    "non_finite": "NaN/inf in box or score",
    "score_range": "score outside [0, 1] (logits without sigmoid?)",
    "no_area": "x2 <= x1 or y2 <= y1 (or under 1 px once clipped to the frame)",
    "outside": "box entirely outside the image, or reaching more than a frame beyond it",
    "capped": f"more than {MAX_CANDIDATES} candidates above the score threshold",
}


class BoxSanitizer:
    """Drops and clips a model's bad candidate boxes; counts each reason.

    Thread-safe (a pool worker per camera may use one detector's sanitizer at once).
    """

    def __init__(
        self, model: str, *, max_candidates: int = MAX_CANDIDATES, warn_every_s: float = 60.0
    ) -> None:
        self.model = model
        self.max_candidates = int(max_candidates)
        self.warn_every_s = warn_every_s
        self.dropped: Counter[str] = Counter()  # since start, by reason (REASONS keys)
        self._unreported: Counter[str] = Counter()
        self._last_warn = -1e18
        self._lock = threading.Lock()

    def clean(
        self,
        xyxy: np.ndarray,
        scores: np.ndarray,
        class_ids: np.ndarray,
        width: int,
        height: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidates that are finite, scored in [0, 1], of positive size and inside a
        ``width`` x ``height`` frame, clipped to it; the best ``max_candidates`` of them.

        >>> s = BoxSanitizer("m.onnx")
        >>> xyxy = np.array([[10, 10, 50, 90], [np.nan, 0, 5, 5], [60, 10, 40, 90],
        ...                  [-20, -5, 30, 40], [700, 0, 800, 50]], np.float32)
        >>> b, sc, c = s.clean(xyxy, np.array([.9, .9, .9, .8, .9], np.float32),
        ...                    np.zeros(5, np.int32), 640, 480)
        >>> b.tolist()
        [[10.0, 10.0, 50.0, 90.0], [0.0, 0.0, 30.0, 40.0]]
        >>> dict(s.dropped)
        {'non_finite': 1, 'outside': 1, 'no_area': 1}
        """
        n = len(scores)
        if n == 0:
            return xyxy.reshape(0, 4).astype(np.float32), scores.astype(np.float32), class_ids
        xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        x1, y1, x2, y2 = xyxy[:, 0], xyxy[:, 1], xyxy[:, 2], xyxy[:, 3]
        # Each test is one vectorised pass over the (few, after the score threshold) rows.
        finite = np.isfinite(xyxy).all(axis=1) & np.isfinite(scores)
        in_range = (scores >= 0) & (scores <= 1 + _SCORE_SLACK)
        # Overlapping the frame, and not absurdly large (a 1e30 side clipped to the frame
        # would become a full-frame "person"): no corner more than a frame size outside.
        inside = (x2 > 0) & (y2 > 0) & (x1 < width) & (y1 < height)
        inside &= (x1 >= -width) & (y1 >= -height) & (x2 <= 2 * width) & (y2 <= 2 * height)
        ok = finite & in_range & inside
        if not ok.all():
            self._count(
                non_finite=int((~finite).sum()),
                score_range=int((finite & ~in_range).sum()),
                outside=int((finite & in_range & ~inside).sum()),
            )
            xyxy, scores, class_ids = xyxy[ok], scores[ok], class_ids[ok]
        limit = np.array([width, height, width, height], np.float32)
        xyxy = np.clip(xyxy, 0, limit)
        sized = ((xyxy[:, 2] - xyxy[:, 0]) >= _MIN_SIDE_PX) & (
            (xyxy[:, 3] - xyxy[:, 1]) >= _MIN_SIDE_PX
        )
        if not sized.all():
            self._count(no_area=int((~sized).sum()))
            xyxy, scores, class_ids = xyxy[sized], scores[sized], class_ids[sized]
        scores = np.minimum(scores, np.float32(1.0))
        if len(scores) > self.max_candidates:
            self._count(capped=len(scores) - self.max_candidates)
            best = np.argpartition(-scores, self.max_candidates - 1)[: self.max_candidates]
            best.sort()  # keep the model's order among the kept (stable NMS ties)
            xyxy, scores, class_ids = xyxy[best], scores[best], class_ids[best]
        return xyxy, scores, class_ids

    def _count(self, **by_reason: int) -> None:
        with self._lock:
            for reason, k in by_reason.items():
                if k:
                    self.dropped[reason] += k
                    self._unreported[reason] += k
            now = time.monotonic()
            if not self._unreported or now - self._last_warn < self.warn_every_s:
                return
            what = "; ".join(f"{k} {REASONS[r]}" for r, k in self._unreported.items())
            self._unreported.clear()
            self._last_warn = now
        log.warning(
            "%s: dropped bad model output (%s); totals so far %s (next report in %.0f s at "
            "the earliest)",
            self.model,
            what,
            dict(self.dropped),
            self.warn_every_s,
        )
