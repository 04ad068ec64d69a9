"""The crossing rule: a pedestrian who steps onto the carriageway while red.

A violation is an *entry*: the track's foot point goes from outside the carriageway
polygon to inside, and stays inside for ``debounce_s`` (a one-frame flicker of a box
is not a step). The entry time is the first frame of that inside run, and the signal
is judged *at that time*: red for longer than ``grace_s``.

Deliberately never a violation:

- someone already in the zone when red began (clearance: they entered on green),
- a track first seen inside the zone (its entry was not observed, so it is unproven),
- any entry while the signal is green, dark, unknown, or red with an unseen start,
- an entry during a flashing phase, unless the site makes it one (``flashing_offence``),
- a second violation for the same track.

With ``settle_s`` > 0 (the ROI reader: a lamp can only be proven steady, not flashing,
after it has stayed lit that long) an entry is judged ``settle_s`` after it happened,
with what is known by then about the phase at the entry's time: a red that turned out
to be one flash of a flashing head is not a red, and a flashing lamp that turned out
to have gone steady at a moment before the entry is.

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


@dataclass(frozen=True, slots=True)
class _Held:
    track_id: int
    t: float
    frame: int
    bbox: tuple[float, float, float, float]


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

    def run_end(self, t: float) -> float | None:
        """When the phase in force at ``t`` (its state and start) gave way to another, or
        ``None`` if it still holds at the latest reading."""
        i = bisect.bisect_right(self._t, t + 1e-9) - 1
        if i < 0:
            return None
        ref = self._r[i]
        for r in self._r[i + 1 :]:
            if r.state is not ref.state or r.since != ref.since:
                return r.t
        return None


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

    def __init__(self, cfg: CrossingConfig, settle_s: float = 0.0) -> None:
        self.cfg = cfg
        self.settle_s = settle_s
        self.zone = np.asarray(cfg.zone, np.float32)
        self._tracks: dict[int, _TrackState] = {}
        self._held: list[_Held] = []
        self.signal = SignalHistory(keep_s=max(10.0, 4 * cfg.debounce_s, 4 * settle_s))

    def reset(self) -> None:
        """Forget every track's side and the signal history (after a gap in frames: what
        happened during it was not seen, so nothing from before it may decide an entry;
        an entry still waiting to be judged cannot be proven either)."""
        self._tracks.clear()
        self._held.clear()
        self.signal = SignalHistory(keep_s=self.signal.keep_s)

    def flush(self) -> list[Entry]:
        """Judge the entries still waiting (end of the video) with what is known."""
        held, self._held = self._held, []
        return [e for h in held if (e := self._judge_held(h)) is not None]

    def forget(self, track_ids: np.ndarray | list[int]) -> None:
        """Drop state of ended tracks."""
        for tid in np.asarray(track_ids).tolist():
            self._tracks.pop(int(tid), None)

    def update(self, tracks: Tracks, reading: SignalReading, frame: int) -> list[Entry]:
        """Feed one analysed frame; returns entries confirmed on this frame."""
        t = reading.t
        self.signal.add(reading)
        self.forget(tracks.removed_ids)
        out = self._settled(t)
        if len(tracks) == 0:
            return out
        feet = foot_points(tracks.xyxy)
        inside = points_in_polygon(feet, self.zone)
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
            if st.flagged or not st.seen_outside:
                continue
            held = _Held(int(tid), st.pending_t, st.pending_frame, st.pending_bbox)
            if self.settle_s > 0:
                self._held.append(held)
                continue
            entry = self._judge(held, self.signal.at(held.t))
            if entry is not None:
                st.flagged = True
                out.append(entry)
        return out

    def _settled(self, t: float) -> list[Entry]:
        """Judge the held entries whose ``settle_s`` has passed."""
        if not self._held:
            return []
        due = [h for h in self._held if t - h.t + 1e-9 >= self.settle_s]
        if not due:
            return []
        self._held = [h for h in self._held if t - h.t + 1e-9 < self.settle_s]
        return [e for h in due if (e := self._judge_held(h)) is not None]

    def _judge_held(self, h: _Held) -> Entry | None:
        st = self._tracks.get(h.track_id)
        if st is not None and st.flagged:
            return None
        now = self.signal.at(float("inf"))
        if now is not None and now.since is not None and now.since <= h.t:
            # The phase now in force already held at the entry: the best knowledge of it.
            at = SignalReading(now.state, h.t, now.since, now.previous, now.previous_since)
        else:
            at = self.signal.at(h.t)
            if at is not None and at.since is not None:
                end = self.signal.run_end(h.t)
                if end is not None and end - at.since < self.settle_s:
                    return None  # that "phase" was one flash of a flashing lamp
        entry = self._judge(h, at)
        if entry is not None and st is not None:
            st.flagged = True
        return entry

    def _stop_since(self, at: SignalReading) -> float | None:
        """When the stop period in force at ``at`` began, or ``None`` if ``at`` is not an
        offence phase or its start was not seen."""
        if at.state is SignalState.RED:
            if self.cfg.flashing_offence and at.previous is not None and at.previous.flashing:
                return at.previous_since  # flashing then steady red: one stop period
            return at.since
        if at.state.flashing and self.cfg.flashing_offence:
            return at.since
        return None

    def _judge(self, h: _Held, at_entry: SignalReading | None) -> Entry | None:
        if at_entry is None:
            return None
        since = self._stop_since(at_entry)
        if since is None:
            return None
        # Judged at the entry frame's own time, not at the (later) confirmation frame.
        red_for = h.t - since
        if red_for <= self.cfg.grace_s:
            return None
        x1, _, x2, y2 = h.bbox
        return Entry(
            track_id=h.track_id,
            t=h.t,
            frame=h.frame,
            bbox=h.bbox,
            foot=((x1 + x2) / 2, y2),
            red_for_s=red_for,
            signal=at_entry,
        )
