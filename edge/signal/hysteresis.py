"""Frame-to-frame hysteresis: a phase is believed only after several frames agree.

A single frame can lie: a bird, a flash of sun, a JPEG block, a lamp's PWM caught dark.
A new state is therefore confirmed only after ``frames`` consecutive raw readings agree,
and until then the previously confirmed state is reported.

``since`` of a confirmed state is the time of the *first* frame of the run that confirmed
it, not the time of the confirming frame: the change really happened between the frame
before the run and the run's first frame, so the first frame is the latest moment the
change can have happened. ``t - since`` is thus a lower bound of how long the state has
held, off by at most one frame interval and never in the accused's disfavour. Using the
confirming frame instead would shorten time-since-red by ``frames - 1`` intervals for no
reason; using the frame before the run would overstate it.

A state already showing at the first frame after start-up (or after :meth:`reset`, e.g. a
stream reconnect) has ``since=None``: its start was not seen, so time-since-red is
unknown and no violation can be proven from it. The same holds for every state confirmed
before any known phase (RED, GREEN, DARK) was: a start-up run of unreadable frames, or a
one-frame flicker in the first frames, does not make the first phase's start "seen".
Once a known phase has been confirmed, its end is observed, so the next phase's start is
(a few UNKNOWN frames between phases, e.g. a cross-fade with both lamps lit, are fine:
``since`` is then the first frame of the new phase, still a lower bound).
"""

from __future__ import annotations

from edge.signal.base import SignalReading, SignalState


class Hysteresis:
    """Turns per-frame raw states into confirmed :class:`SignalReading` values."""

    def __init__(self, frames: int) -> None:
        if frames < 1:
            raise ValueError(f"hysteresis frames: expected >= 1, got {frames}")
        self._frames = frames
        self.reset()

    def reset(self) -> None:
        """Forget everything, as after start-up (the next state's start is unseen)."""
        self._state = SignalState.UNKNOWN
        self._since: float | None = None
        self._previous: SignalState | None = None
        self._previous_since: float | None = None
        self._run_state: SignalState | None = None
        self._run_start: float | None = None
        self._run_len = 0
        # Whether a known phase (not UNKNOWN) was confirmed since start-up / reset, and
        # whether the current run began before one was: then its true start is hidden.
        self._confirmed_known = False
        self._run_start_unseen = False
        self._last_t: float | None = None

    def update(self, raw: SignalState, t: float, started: float | None = None) -> SignalReading:
        """Add one frame's raw state at time ``t`` (non-decreasing) and return the reading.

        ``started``: the raw state is already proven to have held since then (a flashing
        lamp that stayed lit, edge/signal/flashing.py): it is confirmed at once, with
        that start."""
        if self._last_t is not None and t < self._last_t:
            raise ValueError(f"frame time went backwards: {t} after {self._last_t}")
        self._last_t = t
        if raw is self._run_state:
            self._run_len += 1
        else:
            self._run_state, self._run_start, self._run_len = raw, t, 1
            self._run_start_unseen = not self._confirmed_known
            if started is not None and started <= t:
                self._run_start, self._run_len = started, self._frames
        if self._run_len >= self._frames and raw is not self._state:
            self._previous, self._previous_since = self._state, self._since
            self._state = raw
            self._since = None if self._run_start_unseen else self._run_start
            self._confirmed_known = self._confirmed_known or raw is not SignalState.UNKNOWN
        return SignalReading(
            state=self._state,
            t=t,
            since=self._since,
            previous=self._previous,
            previous_since=self._previous_since,
        )
