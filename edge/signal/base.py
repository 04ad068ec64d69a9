"""What a signal reader reports: the pedestrian signal's phase and since when."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class SignalState(enum.StrEnum):
    """Phase of the pedestrian signal head.

    ``UNKNOWN`` and ``DARK`` never produce a violation (the rule needs a proven red).
    """

    RED = "red"  # stop ("don't walk") lamp lit
    GREEN = "green"  # walk lamp lit
    DARK = "dark"  # nothing lit (off, flashing gap, or obstructed)
    UNKNOWN = "unknown"  # not enough evidence yet (start-up, conflicting lamps)


@dataclass(frozen=True, slots=True)
class SignalReading:
    """The signal's confirmed state at time ``t``.

    ``since`` is the time (seconds, same clock as ``t``) at which the current state began,
    or ``None`` when its start was not observed (e.g. the video started during red):
    then the time since red is unknown and, being unprovable, gives no violation.
    """

    state: SignalState
    t: float
    since: float | None

    def red_for(self) -> float | None:
        """Seconds the signal has been red at ``t``; ``None`` if not red or start unseen."""
        if self.state is not SignalState.RED or self.since is None:
            return None
        return self.t - self.since


class SignalReader(Protocol):
    def update(self, frame_bgr: np.ndarray | None, t: float) -> SignalReading:
        """Feed one frame (or ``None`` for a controller-fed reader) at time ``t``."""
        ...
