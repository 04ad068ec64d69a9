"""What a signal reader reports: the pedestrian signal's phase and since when."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import numpy as np


class SignalState(enum.StrEnum):
    """Phase of the pedestrian signal head.

    "red" is the stop lamp (a red or orange hand), "green" the walk lamp (a green or
    white figure), whatever their colours at a site.

    ``UNKNOWN`` and ``DARK`` never produce a violation (the rule needs a proven red).
    The flashing phases are clearance or warning periods (a flashing red hand in the
    US/Canada: do not start; a flashing green figure elsewhere: hurry up); whether
    entering during one is an offence is the site's choice (``crossing.flashing_offence``).
    """

    RED = "red"  # stop ("don't walk") lamp lit
    GREEN = "green"  # walk lamp lit
    FLASHING_RED = "flashing_red"  # stop lamp flashing on/off at 0.5-2 Hz
    FLASHING_GREEN = "flashing_green"  # walk lamp flashing on/off at 0.5-2 Hz
    DARK = "dark"  # nothing lit (off, or obstructed)
    UNKNOWN = "unknown"  # not enough evidence yet (start-up, conflicting lamps, stale feed)

    @property
    def flashing(self) -> bool:
        return self in (SignalState.FLASHING_RED, SignalState.FLASHING_GREEN)


@dataclass(frozen=True, slots=True)
class SignalReading:
    """The signal's confirmed state at time ``t``.

    ``since`` is the time (seconds, same clock as ``t``) at which the current state began,
    or ``None`` when its start was not observed (e.g. the video started during red):
    then the time since red is unknown and, being unprovable, gives no violation.
    ``previous`` / ``previous_since`` are the confirmed state before this one and its
    start (``None`` when unseen), e.g. a flashing clearance before a steady red.
    """

    state: SignalState
    t: float
    since: float | None
    previous: SignalState | None = None
    previous_since: float | None = None

    def red_for(self) -> float | None:
        """Seconds the signal has been red at ``t``; ``None`` if not red or start unseen."""
        if self.state is not SignalState.RED or self.since is None:
            return None
        return self.t - self.since


SignalSource = Literal["roi", "controller"]


@dataclass(frozen=True, slots=True)
class SignalStatus:
    """A snapshot of one camera's signal reading, for health reports and metrics.

    Times ending in ``_t`` are on the camera's frame clock; durations are seconds at the
    latest analysed frame (``at_t``); ``last_change`` is wall-clock UTC when the frame
    clock is anchored to one (live streams and the gateway's files), else ``None``.

    Attributes:
        source: ``"roi"`` (colour rule on the image) or ``"controller"`` (controller feed).
        phase: the confirmed phase now (``UNKNOWN`` before the first frame).
        at_t: frame time of the latest reading (``None`` before the first frame).
        since_t: frame time the current phase began (``None``: start not seen).
        last_change: wall-clock time the current phase began (``None`` if unseen/unanchored).
        unknown_for_s: how long there has been no usable phase (UNKNOWN or DARK) without
            interruption; 0.0 while a phase is known.
        stale: controller feed silent for longer than its timeout (reads UNKNOWN).
        stale_for_s: controller: seconds since the latest message's time (``None`` for roi
            or before any message).
        skew_s: controller clock minus gateway clock, filtered (``None`` for roi or before
            any live message); positive = controller ahead.
        messages: controller messages accepted; ``rejected``: bad ones (unparseable,
            invalid, wrong site/group), counted, never applied.
        gap_resets: times a gap in frames reset the reader and the rule (reconnects,
            stalls, dropped frames).
    """

    source: SignalSource
    phase: SignalState = SignalState.UNKNOWN
    at_t: float | None = None
    since_t: float | None = None
    last_change: datetime | None = None
    unknown_for_s: float = 0.0
    stale: bool = False
    stale_for_s: float | None = None
    skew_s: float | None = None
    messages: int = 0
    rejected: int = 0
    gap_resets: int = 0


class SignalReader(Protocol):
    def update(self, frame_bgr: np.ndarray | None, t: float) -> SignalReading:
        """Feed one frame (or ``None`` for a controller-fed reader) at time ``t``."""
        ...

    def reset(self) -> None:
        """Forget the history after a gap in frames (the next phase's start is unseen)."""
        ...

    def status(self) -> SignalStatus:
        """A snapshot for health reports (thread-safe to call from another thread)."""
        ...
