"""Tells a flashing lamp from a steady one, from flicker, and from slow red/dark changes.

Pedestrian heads flash as a clearance or warning phase: the red hand in the US/Canada
(do not start crossing), the green figure in much of Europe (hurry up). Frame by frame a
flashing lamp reads lit, dark, lit, dark; without this module the hysteresis would
confirm a fresh red at every flash, and someone stepping out during the clearance could
be timed from the start of a flash.

A lamp is flashing when its recent per-frame states alternate between lit and dark in
runs that each last between ``min_run_s`` and ``max_run_s`` (0.15-1.3 s covers 0.5-2 Hz
at any usual duty cycle), at least three complete runs in a row, runs of one kind no
more than twice as long as each other, and the run now in progress no longer than
``max_run_s``. What is *not* flashing:

- flicker: a lamp that drops out for a frame or two (runs shorter than ``min_run_s``,
  or single unreadable frames, which are skipped rather than counted as dark);
- red/dark alternation: slow changes (a head switched off and on, runs longer than
  ``max_run_s``), or irregular ones (run lengths differing more than 2x);
- anything with the other lamp lit.

When a flashing lamp stays lit past ``max_run_s`` it has turned steady, and its steady
phase started with that last lit run: :meth:`FlashDetector.update` returns that run's
start so the red timer starts at the steady red, not at the end of the flashing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from edge.signal.base import SignalState

_FLASHING = {
    SignalState.RED: SignalState.FLASHING_RED,
    SignalState.GREEN: SignalState.FLASHING_GREEN,
}


@dataclass(slots=True)
class _Run:
    state: SignalState
    start: float
    last: float


class FlashDetector:
    """Feed every frame's raw state; get the state to pass on to the hysteresis."""

    def __init__(self, min_run_s: float = 0.15, max_run_s: float = 1.3) -> None:
        if not 0 < min_run_s < max_run_s:
            raise ValueError(
                f"signal.flash_run_s: expected 0 < min < max, got [{min_run_s}, {max_run_s}]"
            )
        self.min_run_s = min_run_s
        self.max_run_s = max_run_s
        self.reset()

    def reset(self) -> None:
        self._runs: deque[_Run] = deque(maxlen=6)
        self._unknown_frames = 0
        self._flashing: SignalState | None = None  # the lamp (RED/GREEN) now flashing

    def update(self, raw: SignalState, t: float) -> tuple[SignalState, float | None]:
        """``(state, started)``: ``state`` is ``raw`` or a flashing phase; ``started`` is
        set when the state is a steady phase that began before ``t`` (a flashing lamp
        that stayed lit), else ``None``."""
        if raw is SignalState.UNKNOWN or raw.flashing:
            self._unknown_frames += 1
            if self._unknown_frames >= 3:  # not a transition frame: the pattern is broken
                self._runs.clear()
                self._flashing = None
            return raw, None
        self._unknown_frames = 0
        if self._runs and self._runs[-1].state is raw:
            self._runs[-1].last = t
        else:
            self._runs.append(_Run(raw, t, t))
        lamp = self._pattern(t)
        if lamp is not None:
            self._flashing = lamp
            return _FLASHING[lamp], None
        was, self._flashing = self._flashing, None
        cur = self._runs[-1]
        if was is not None and cur.state is was:
            return raw, cur.start  # flashing turned steady: it began with this lit run
        return raw, None

    def _pattern(self, t: float) -> SignalState | None:
        runs = list(self._runs)
        if len(runs) < 4:
            return None
        cur, done = runs[-1], runs[-4:-1]
        if t - cur.start > self.max_run_s:
            return None
        lamps = {r.state for r in runs[-4:]} - {SignalState.DARK}
        if len(lamps) != 1:
            return None
        lamp = next(iter(lamps))
        if lamp not in _FLASHING:
            return None
        # Complete runs last from their first frame to the next run's first frame.
        seq = runs[-4:]
        lengths = [seq[k + 1].start - seq[k].start for k in range(3)]
        if any(not self.min_run_s <= d <= self.max_run_s for d in lengths):
            return None
        for kind in (lamp, SignalState.DARK):
            same = [d for r, d in zip(done, lengths, strict=True) if r.state is kind]
            if len(same) >= 2 and max(same) > 2 * min(same):
                return None
        return lamp
