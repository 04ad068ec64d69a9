"""Reads the pedestrian phase from the signal controller's own messages.

Sites wired to the controller get the phase as data, exact to the controller's clock,
whatever the light or the weather: enforcement systems prefer this to looking at the lamp.
The feed is a stream of :class:`PhaseChange` messages; the reader answers "what phase at
time t, since when" from the messages at or before t.

Rules, each chosen so that an error can only *shorten* time-since-red, never lengthen it:

- Messages are applied in time order, whatever order they arrive in (network reordering,
  MQTT redelivery); a duplicate (same ``seq``, or same time and phase) is ignored.
- Consecutive messages with the same phase are one run (controllers repeat their phase
  as a heartbeat); ``since`` is the time of the run's first message.
- A run is broken, and ``since`` restarts, where a change may have been missed: a gap in
  the controller's sequence numbers, or a silence longer than the timeout.
- A feed silent for longer than ``timeout_s`` reads UNKNOWN (a dead link must not leave
  the last phase standing, red or not); the change to and from stale is logged once and
  shows in :meth:`ControllerFeedReader.status`.

Live messages arrive through :mod:`edge.signal.live` (MQTT, UDP or HTTP), which aligns
the controller's clock to the frame clock before calling :meth:`ControllerFeedReader.push`.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from edge.signal.base import SignalReading, SignalState, SignalStatus

log = logging.getLogger(__name__)


class PhaseFeedError(ValueError):
    """A phase message or feed file that cannot be used; the message names file and line."""


class PhaseChange(BaseModel):
    """One controller message: the pedestrian phase became (or still is) ``phase`` at ``t``.

    ``t`` (alias ``timestamp``) is in seconds on the same clock as the camera frames, given
    as a number or as an ISO-8601 string with a UTC offset (converted to POSIX seconds).
    ``seq`` is the controller's message counter, when it has one: it orders messages with
    equal times and reveals lost messages.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    t: float = Field(validation_alias=AliasChoices("t", "timestamp"))
    phase: Literal["red", "green", "flashing_red", "flashing_green", "dark"]
    seq: int | None = Field(default=None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _one_time_key(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "t" in data and "timestamp" in data:
            raise ValueError("give either 't' or 'timestamp', not both")
        return data

    @field_validator("t", mode="before")
    @classmethod
    def _parse_time(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                when = datetime.fromisoformat(v)
            except ValueError:
                raise ValueError(
                    f"expected seconds or an ISO-8601 time with UTC offset, got {v!r}"
                ) from None
            if when.tzinfo is None:
                raise ValueError(f"ISO-8601 time needs a UTC offset (e.g. 'Z'), got {v!r}")
            return when.timestamp()
        return v

    @field_validator("t")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"expected a finite time, got {v}")
        return v

    @property
    def state(self) -> SignalState:
        return SignalState(self.phase)


def _order_key(m: PhaseChange, arrival: int) -> tuple[float, int, int]:
    return (m.t, -1 if m.seq is None else m.seq, arrival)


class ControllerFeedReader:
    """A :class:`~edge.signal.base.SignalReader` fed with controller messages.

    Call :meth:`push` (or :meth:`extend`) as messages arrive and ``update(None, t)`` once per
    analysed frame. Messages older than ``retain_s`` before the latest ``update`` are
    forgotten (memory stays bounded on a gateway that runs for months); a message arriving
    later than that is dropped and counted in ``dropped_late``.
    """

    def __init__(self, timeout_s: float, retain_s: float = 600.0, name: str = "") -> None:
        if not timeout_s > 0:
            raise ValueError(f"signal.controller_timeout_s: expected > 0, got {timeout_s}")
        if retain_s < timeout_s:
            raise ValueError(f"retain_s ({retain_s}) must be >= timeout_s ({timeout_s})")
        self._timeout = timeout_s
        self._retain = retain_s
        self._msgs: list[PhaseChange] = []
        self._keys: list[tuple[float, int, int]] = []
        self._times: list[float] = []
        self._run_start: list[float] = []
        self._seqs: set[int] = set()
        self._arrivals = 0
        self._horizon = -math.inf
        self.dropped_late = 0
        self.name = name  # for log lines (the camera id)
        # Filled by the live feed (edge.signal.live): controller clock minus gateway
        # clock, and how many messages it accepted / rejected for this reader.
        self.skew_s: float | None = None
        self.messages = 0
        self.rejected = 0
        self._latest_t: float | None = None  # newest message time
        self._last_update_t: float | None = None
        self._stale = False
        self._lock = threading.Lock()

    def push(self, msg: PhaseChange | Mapping[str, Any]) -> bool:
        """Add one message; ``False`` if it was a duplicate or arrived too late to use.
        Safe to call from another thread than :meth:`update` (the live feed's)."""
        m = msg if isinstance(msg, PhaseChange) else _validate(msg, where="phase message")
        with self._lock:
            return self._push(m)

    def _push(self, m: PhaseChange) -> bool:
        if m.t < self._horizon:
            self.dropped_late += 1
            return False
        if m.seq is not None and m.seq in self._seqs:
            return False
        key = _order_key(m, self._arrivals)
        i = bisect.bisect_right(self._keys, key)
        if m.seq is None and any(
            o.t == m.t and o.phase == m.phase for o in self._msgs[max(0, i - 2) : i + 1]
        ):
            return False
        self._arrivals += 1
        self._msgs.insert(i, m)
        self._keys.insert(i, key)
        self._times.insert(i, m.t)
        self._run_start.insert(i, m.t)
        if m.seq is not None:
            self._seqs.add(m.seq)
        self._relink(i)
        self._latest_t = m.t if self._latest_t is None else max(self._latest_t, m.t)
        return True

    def extend(self, msgs: Iterable[PhaseChange | Mapping[str, Any]]) -> int:
        """Add many messages; returns how many were used."""
        return sum(self.push(m) for m in msgs)

    def _continues(self, prev: PhaseChange, cur: PhaseChange) -> bool:
        """Whether ``cur`` continues ``prev``'s run (no change can have been missed)."""
        if cur.phase != prev.phase or cur.t - prev.t > self._timeout:
            return False
        return prev.seq is None or cur.seq is None or cur.seq == prev.seq + 1

    def _relink(self, start: int) -> None:
        """Recompute run starts from ``start`` on, stopping once they no longer change."""
        for j in range(start, len(self._msgs)):
            new = (
                self._run_start[j - 1]
                if j > 0 and self._continues(self._msgs[j - 1], self._msgs[j])
                else self._msgs[j].t
            )
            if j > start + 1 and new == self._run_start[j]:
                break
            self._run_start[j] = new

    def _prune(self, t: float) -> None:
        """Forget messages no reading at or after ``t - retain_s`` can need."""
        cut = bisect.bisect_right(self._times, t - self._retain) - 1  # keep the one in force
        if cut <= 0:
            return
        self._horizon = self._msgs[cut].t
        for m in self._msgs[:cut]:
            if m.seq is not None:
                self._seqs.discard(m.seq)
        del self._msgs[:cut], self._keys[:cut], self._times[:cut], self._run_start[:cut]

    def update(self, frame_bgr: np.ndarray | None, t: float) -> SignalReading:
        """The phase in force at ``t`` (the frame, if any, is not looked at)."""
        with self._lock:
            return self._update(t)

    def _update(self, t: float) -> SignalReading:
        self._last_update_t = t
        i = bisect.bisect_right(self._times, t) - 1
        if i < 0:
            self._set_stale(self._latest_t is not None, t)
            return SignalReading(state=SignalState.UNKNOWN, t=t, since=None)
        last = self._msgs[i]
        if t - last.t > self._timeout:
            self._set_stale(True, t)
            reading = SignalReading(state=SignalState.UNKNOWN, t=t, since=last.t + self._timeout)
        else:
            self._set_stale(False, t)
            prev = self._previous_run(i)
            reading = SignalReading(
                state=last.state,
                t=t,
                since=self._run_start[i],
                previous=None if prev is None else prev[0],
                previous_since=None if prev is None else prev[1],
            )
        self._prune(t)
        return reading

    def _previous_run(self, i: int) -> tuple[SignalState, float] | None:
        """The run before message ``i``'s run: its phase and start."""
        j = bisect.bisect_left(self._times, self._run_start[i]) - 1
        if j < 0 or self._run_start[j] == self._run_start[i]:
            return None
        return self._msgs[j].state, self._run_start[j]

    def _set_stale(self, stale: bool, t: float) -> None:
        if stale == self._stale:
            return
        self._stale = stale
        if stale:
            log.warning(
                "signal feed%s silent for more than %.1f s at t=%.1f: phase UNKNOWN, "
                "no violations until it resumes",
                f" for camera {self.name}" if self.name else "",
                self._timeout,
                t,
            )
        else:
            log.info(
                "signal feed%s resumed at t=%.1f",
                f" for camera {self.name}" if self.name else "",
                t,
            )

    def reset(self) -> None:
        """A gap in *frames* does not touch the controller's history: its phase times come
        from the controller, not from the images, so a red start it reported is still
        proven. (The pipeline still resets the crossing rule and the tracker.)"""

    def status(self) -> SignalStatus:
        t = self._last_update_t
        latest = self._latest_t
        return SignalStatus(
            source="controller",
            stale=self._stale,
            stale_for_s=None if t is None or latest is None else max(0.0, t - latest),
            skew_s=self.skew_s,
            messages=self.messages,
            rejected=self.rejected,
        )


def _validate(data: Any, *, where: str) -> PhaseChange:
    if not isinstance(data, Mapping):
        raise PhaseFeedError(f"{where}: expected a JSON object, got {type(data).__name__}")
    try:
        return PhaseChange.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        raise PhaseFeedError(f"{where}: {loc + ': ' if loc else ''}{msg}") from None


def load_phase_feed(path: str | Path) -> list[PhaseChange]:
    """Read a JSON-lines phase log (one :class:`PhaseChange` object per line; blank lines
    are skipped) for offline runs over recorded video.

    Raises:
        PhaseFeedError: naming the file and line and what was expected.
    """
    p = Path(path)
    if not p.is_file():
        raise PhaseFeedError(f"{p}: file not found")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise PhaseFeedError(f"{p}: not a UTF-8 text file") from None
    out: list[PhaseChange] = []
    seen_seq: dict[int, tuple[int, PhaseChange]] = {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{p}:{n}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            raise PhaseFeedError(f"{where}: not valid JSON: {e.msg} (column {e.colno})") from None
        m = _validate(data, where=where)
        if m.seq is not None and m.seq in seen_seq:
            first_n, first = seen_seq[m.seq]
            if first != m:
                raise PhaseFeedError(
                    f"{where}: seq {m.seq} already used on line {first_n} with other content"
                )
        elif m.seq is not None:
            seen_seq[m.seq] = (n, m)
        out.append(m)
    if not out:
        raise PhaseFeedError(f"{p}: no phase messages (expected one JSON object per line)")
    return out
