"""The gateway's frame clock: monotonic seconds, anchored once to wall-clock time.

Frame times (``Frame.t``) must never jump (an NTP step would otherwise stretch or
shrink time-since-red), so they come from ``time.monotonic()``. Evidence and the
controller feed need wall-clock time, so each clock is anchored once: ``wall0`` is the
POSIX time at which ``t`` was 0. Every conversion between the two goes through one
anchor, so a frame's wall time and a controller message aligned with
:meth:`AnchoredClock.t_of_wall` are on the same time line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class AnchoredClock:
    """``t`` = seconds since the anchor (monotonic); ``wall0`` = POSIX time at ``t == 0``."""

    mono0: float = field(default_factory=time.monotonic)
    wall0: float = field(default_factory=time.time)

    def now(self) -> float:
        return time.monotonic() - self.mono0

    def wall_of(self, t: float) -> float:
        """POSIX seconds of frame time ``t``."""
        return self.wall0 + t

    def t_of_wall(self, wall: float) -> float:
        """Frame time of POSIX seconds ``wall`` (the inverse of :meth:`wall_of`)."""
        return wall - self.wall0

    def datetime_of(self, t: float) -> datetime:
        return datetime.fromtimestamp(self.wall_of(t), UTC)
