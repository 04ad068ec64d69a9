"""A pedestrian-signal phase schedule: which lamp is lit at which time."""

from __future__ import annotations

from dataclasses import dataclass

from tools.signal_head import Phase


@dataclass(frozen=True)
class Interval:
    """The signal shows ``phase`` for ``from_s <= t < to_s`` (seconds from video start)."""

    from_s: float
    to_s: float
    phase: Phase


@dataclass(frozen=True)
class Schedule:
    """Contiguous phase intervals covering the whole video, starting at 0."""

    intervals: tuple[Interval, ...]

    def __post_init__(self) -> None:
        if not self.intervals or self.intervals[0].from_s != 0:
            raise ValueError("schedule must start at 0 s")
        for a, b in zip(self.intervals, self.intervals[1:], strict=False):
            if a.to_s != b.from_s or a.to_s <= a.from_s:
                raise ValueError(f"schedule intervals must be contiguous: {a} then {b}")

    @classmethod
    def of(cls, *spec: tuple[float, float, Phase]) -> Schedule:
        return cls(tuple(Interval(a, b, p) for a, b, p in spec))

    def phase_at(self, t: float) -> Phase:
        for iv in self.intervals:
            if iv.from_s <= t < iv.to_s:
                return iv.phase
        return self.intervals[-1].phase

    def red_since(self, t: float) -> float | None:
        """Start of the red interval containing ``t``, or None if not red at ``t``."""
        for iv in self.intervals:
            if iv.from_s <= t < iv.to_s:
                return iv.from_s if iv.phase == "red" else None
        return None

    def to_json(self) -> list[dict]:
        return [{"from_s": i.from_s, "to_s": i.to_s, "phase": i.phase} for i in self.intervals]
