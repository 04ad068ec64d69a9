"""The crossing rule: a pedestrian who steps onto the carriageway while red.

A violation is an *entry*: the track's foot point goes from outside the carriageway
polygon to inside, and stays inside for ``debounce_s`` (a one-frame flicker of a box
is not a step). The entry time is the first frame of that inside run, and the signal
is judged *at that time*: red for longer than ``grace_s``.

Deliberately never a violation:

- someone already in the zone when red began (clearance: they entered on green),
- a track first seen inside the zone (its entry was not observed, so it is unproven),
- any entry while the signal is green, dark, unknown, or red with an unseen start,
- a second violation for the same track.

State is a few numbers per tracker id (as supervision's LineZone keeps it).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from edge.config import CrossingConfig
from edge.rule.geometry import foot_points, points_in_polygon
from edge.signal.base import SignalReading, SignalState
from edge.track.base import Tracks


@dataclass(frozen=True, slots=True)
class Entry:
    """A confirmed step onto the carriageway while red beyond grace."""

    track_id: int
    t: float  # time of the first frame inside the zone
    frame: int  # that frame's index
    bbox: tuple[float, float, float, float]  # the person's box on that frame
    foot: tuple[float, float]
    red_for_s: float  # how long the signal had been red at ``t``
    signal: SignalReading  # the reading in force at ``t``


@dataclass(slots=True)
class _TrackState:
    inside: bool | None = None  # confirmed side; None until first seen
    seen_outside: bool = False
    pending: bool | None = None  # a side change waiting for debounce
    pending_t: float = 0.0
    pending_frame: int = 0
    pending_bbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    flagged: bool = False


@dataclass
class SignalHistory:
    """Signal readings over the last seconds, to judge an entry at its own time."""

    keep_s: float = 10.0
    _t: list[float] = field(default_factory=list)
    _r: list[SignalReading] = field(default_factory=list)

    def add(self, reading: SignalReading) -> None:
        self._t.append(reading.t)
        self._r.append(reading)
        cut = bisect.bisect_left(self._t, reading.t - self.keep_s)
        if cut > 0:
            del self._t[:cut], self._r[:cut]

    def at(self, t: float) -> SignalReading | None:
        """The reading in force at ``t`` (the latest one not after ``t``)."""
        i = bisect.bisect_right(self._t, t + 1e-9) - 1
        return self._r[i] if i >= 0 else None


class CrossingRule:
    """Apply the rule frame by frame.

    >>> from edge.config import CrossingConfig
    >>> from edge.track.base import Tracks
    >>> rule = CrossingRule(CrossingConfig(zone=[(0, 100), (200, 100), (200, 200), (0, 200)],
    ...                                    grace_s=0.5, debounce_s=0.2))
    >>> red = lambda t: SignalReading(SignalState.RED, t, since=0.0)
    >>> box = lambda y: Tracks(np.array([[90, y - 50, 110, y]], np.float32),
    ...                        np.array([7]), np.array([0.9], np.float32))
    >>> hits = []
    >>> for i, y in enumerate([80, 90, 120, 130, 140, 150]):
    ...     hits += rule.update(box(y), red(1.0 + i * 0.1), frame=i)
    >>> [(h.track_id, h.frame, round(h.red_for_s, 1)) for h in hits]
    [(7, 2, 1.2)]
    """

    def __init__(self, cfg: CrossingConfig) -> None:
        self.cfg = cfg
        self.zone = np.asarray(cfg.zone, np.float32)
        self._tracks: dict[int, _TrackState] = {}
        self.signal = SignalHistory(keep_s=max(10.0, 4 * cfg.debounce_s))

    def reset(self) -> None:
        """Forget every track's side and the signal history (after a gap in frames: what
        happened during it was not seen, so nothing from before it may decide an entry)."""
        self._tracks.clear()
        self.signal = SignalHistory(keep_s=self.signal.keep_s)

    def forget(self, track_ids: np.ndarray | list[int]) -> None:
        """Drop state of ended tracks."""
        for tid in np.asarray(track_ids).tolist():
            self._tracks.pop(int(tid), None)

    def update(self, tracks: Tracks, reading: SignalReading, frame: int) -> list[Entry]:
        """Feed one analysed frame; returns entries confirmed on this frame."""
        t = reading.t
        self.signal.add(reading)
        self.forget(tracks.removed_ids)
        if len(tracks) == 0:
            return []
        feet = foot_points(tracks.xyxy)
        inside = points_in_polygon(feet, self.zone)
        out: list[Entry] = []
        for tid, box, now_in in zip(
            tracks.track_ids.tolist(),
            tracks.xyxy.tolist(),
            inside.tolist(),
            strict=True,
        ):
            st = self._tracks.setdefault(int(tid), _TrackState())
            if st.inside is None:  # first sighting: take the side as it is, no entry
                st.inside = now_in
                st.seen_outside = not now_in
                continue
            if now_in == st.inside:
                st.pending = None
                continue
            if st.pending != now_in:
                st.pending, st.pending_t, st.pending_frame = now_in, t, frame
                st.pending_bbox = tuple(box)  # type: ignore[assignment]
            if t - st.pending_t + 1e-9 < self.cfg.debounce_s:
                continue
            # The side change held long enough: it is real.
            st.inside, st.pending = now_in, None
            if not now_in:
                st.seen_outside = True
                continue
            entry = self._judge(int(tid), st)
            if entry is not None:
                st.flagged = True
                out.append(entry)
        return out

    def _judge(self, tid: int, st: _TrackState) -> Entry | None:
        if st.flagged or not st.seen_outside:
            return None
        at_entry = self.signal.at(st.pending_t)
        if at_entry is None or at_entry.state is not SignalState.RED or at_entry.since is None:
            return None
        # Judged at the entry frame's own time, not at the (later) confirmation frame.
        red_for = st.pending_t - at_entry.since
        if red_for <= self.cfg.grace_s:
            return None
        x1, _, x2, y2 = st.pending_bbox
        return Entry(
            track_id=tid,
            t=st.pending_t,
            frame=st.pending_frame,
            bbox=st.pending_bbox,
            foot=((x1 + x2) / 2, y2),
            red_for_s=red_for,
            signal=at_entry,
        )
