"""Every case of the crossing rule, on scripted tracks and signal phases."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from edge.config import CrossingConfig
from edge.rule.crossing import CrossingRule, Entry
from edge.signal.base import SignalReading, SignalState
from edge.track.base import Tracks

# Carriageway: y between 100 and 200 across the whole width. Sidewalk: y < 100.
ZONE = [(0.0, 100.0), (400.0, 100.0), (400.0, 200.0), (0.0, 200.0)]
FPS = 10.0


def phase_at(schedule: list[tuple[float, SignalState]]) -> Callable[[float], SignalReading]:
    """Signal readings from a schedule of (start time, state); the first start is unseen."""

    def reading(t: float) -> SignalReading:
        current = [(s, st) for s, st in schedule if s <= t + 1e-9][-1]
        since = None if current[0] == schedule[0][0] else current[0]
        return SignalReading(current[1], t, since)

    return reading


def run(
    paths: dict[int, Callable[[float], float | None]],
    schedule: list[tuple[float, SignalState]],
    seconds: float = 8.0,
    cfg: CrossingConfig | None = None,
) -> list[Entry]:
    """Walk pedestrians whose foot y is ``path(t)`` (None = not visible) at x=200."""
    rule = CrossingRule(cfg or CrossingConfig(zone=ZONE, grace_s=0.5, debounce_s=0.3))
    reading = phase_at(schedule)
    found: list[Entry] = []
    for i in range(int(seconds * FPS)):
        t = i / FPS
        ids, boxes = [], []
        for tid, path in paths.items():
            y = path(t)
            if y is not None:
                ids.append(tid)
                boxes.append([190 + tid, y - 60, 210 + tid, y])
        tracks = Tracks(
            np.array(boxes, np.float32).reshape(-1, 4),
            np.array(ids, np.int64),
            np.full(len(ids), 0.9, np.float32),
        )
        found += rule.update(tracks, reading(t), frame=i)
    return found


def walk(y0: float, speed: float, start: float = 0.0) -> Callable[[float], float]:
    return lambda t: y0 + speed * max(0.0, t - start)


GREEN_THEN_RED = [(0.0, SignalState.GREEN), (2.0, SignalState.RED)]


def test_entry_while_red_beyond_grace_is_a_violation() -> None:
    # Foot reaches y=100 at t = 4.0 s: red for 2.0 s.
    found = run({1: walk(60, 40, start=3.0)}, GREEN_THEN_RED)
    assert len(found) == 1
    e = found[0]
    assert e.track_id == 1
    assert e.t == pytest.approx(4.0, abs=0.11)
    assert e.red_for_s == pytest.approx(2.0, abs=0.11)
    assert 100 <= e.foot[1] <= 110


def test_crossing_on_green_is_not() -> None:
    assert (
        run({1: walk(60, 40, start=0.2)}, [(0.0, SignalState.GREEN), (6.0, SignalState.RED)]) == []
    )


def test_clearance_already_in_zone_when_red_began_is_not() -> None:
    # Entered at ~1.0 s on green, still crossing when red starts at 2.0 s.
    assert run({1: walk(60, 30, start=0.0)}, GREEN_THEN_RED) == []


def test_entry_inside_grace_is_not_and_just_after_grace_is() -> None:
    # Red from 2.0; grace 0.5. Entry at 2.3 → no; entry at 2.8 → yes.
    assert run({1: walk(88, 40, start=2.0)}, GREEN_THEN_RED) == []
    found = run({1: walk(88, 40, start=2.5)}, GREEN_THEN_RED)
    assert len(found) == 1 and found[0].red_for_s > 0.5


def test_sidewalk_only_is_not() -> None:
    assert run({1: lambda t: 60 + 30 * np.sin(t)}, GREEN_THEN_RED) == []


def test_two_people_entering_at_once_are_two_violations() -> None:
    found = run({1: walk(60, 40, start=3.0), 2: walk(62, 40, start=3.0)}, GREEN_THEN_RED)
    assert sorted(e.track_id for e in found) == [1, 2]


def test_one_frame_flicker_into_zone_is_not() -> None:
    def flicker(t: float) -> float:
        return 105.0 if abs(t - 4.0) < 0.05 else 90.0

    assert run({1: flicker}, GREEN_THEN_RED) == []


def test_flicker_out_of_zone_during_red_is_not_a_new_entry() -> None:
    # Entered on green; during red a one-frame box jitter puts the foot back on the kerb.
    def jitter(t: float) -> float:
        return 95.0 if abs(t - 4.0) < 0.05 else (60 + 40 * t if t < 1.5 else 150.0)

    assert run({1: jitter}, GREEN_THEN_RED) == []


def test_never_twice_for_one_track() -> None:
    # Enters on red, steps back to the kerb, enters again.
    def back_and_forth(t: float) -> float:
        return 90.0 if (t < 3.0 or 4.5 < t < 5.5) else 130.0

    found = run({1: back_and_forth}, GREEN_THEN_RED)
    assert len(found) == 1 and found[0].t == pytest.approx(3.0, abs=0.11)


def test_reentry_on_red_after_stepping_back_on_green_counts() -> None:
    # Steps in on green (no violation), back to the kerb, then in again on red.
    def path(t: float) -> float:
        return 130.0 if 0.5 < t < 1.5 else (90.0 if t < 4.0 else 130.0)

    found = run({1: path}, GREEN_THEN_RED)
    assert len(found) == 1 and found[0].t == pytest.approx(4.0, abs=0.11)


@pytest.mark.parametrize("state", [SignalState.UNKNOWN, SignalState.DARK])
def test_unknown_or_dark_signal_never_gives_a_violation(state: SignalState) -> None:
    assert run({1: walk(60, 40, start=3.0)}, [(0.0, SignalState.GREEN), (2.0, state)]) == []


def test_red_with_unseen_start_gives_no_violation() -> None:
    # The video starts during red: time since red is unknown, so unprovable.
    assert run({1: walk(60, 40, start=3.0)}, [(0.0, SignalState.RED)]) == []


def test_track_first_seen_inside_the_zone_gives_no_violation() -> None:
    assert run({1: lambda t: None if t < 4.0 else 150.0}, GREEN_THEN_RED) == []


def test_signal_judged_at_entry_time_not_confirmation_time() -> None:
    # Entry at 2.4 s (inside grace); the rule confirms at 2.7 s when red is 0.7 s old.
    assert run({1: walk(88, 30, start=2.0)}, GREEN_THEN_RED) == []


def test_ended_tracks_are_forgotten() -> None:
    rule = CrossingRule(CrossingConfig(zone=ZONE))
    r = SignalReading(SignalState.GREEN, 0.0, 0.0)
    tracks = Tracks(
        np.array([[0, 0, 10, 50]], np.float32), np.array([5]), np.array([0.9], np.float32)
    )
    rule.update(tracks, r, 0)
    assert 5 in rule._tracks
    empty = Tracks.empty()
    ended = Tracks(empty.xyxy, empty.track_ids, empty.scores, removed_ids=np.array([5]))
    rule.update(ended, r, 1)
    assert 5 not in rule._tracks
