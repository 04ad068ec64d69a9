"""Flashing pedestrian heads on synthetic drawn frames (tests/edge/signal/conftest.py):
recognised at 0.5-2 Hz at 10 and 25 analysed frames/s, told apart from flicker and from
slow red/dark changes, with the red timer starting at the steady red that follows; and
the rule's choice of whether entering during a flashing phase is an offence."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from edge.config import CrossingConfig, SignalConfig
from edge.rule.crossing import CrossingRule
from edge.signal import ControllerFeedReader, RoiColourReader, SignalState
from edge.track.base import Tracks
from tests.edge.signal.conftest import draw_scene

R, G, D, U = SignalState.RED, SignalState.GREEN, SignalState.DARK, SignalState.UNKNOWN
FR, FG = SignalState.FLASHING_RED, SignalState.FLASHING_GREEN


def _frames(stop_colour: str = "red", walk_colour: str = "green") -> dict[str, object]:
    """One realistic frame (noise, blur, JPEG) per lamp state; ``roi`` of the head."""
    out: dict[str, object] = {}
    for name, stop, walk in [("stop", 1, 0), ("walk", 0, 1), ("dark", 0, 0), ("both", 1, 1)]:
        sc = draw_scene(
            stop_colour=stop_colour,
            walk_colour=walk_colour,
            stop_lit=bool(stop),
            walk_lit=bool(walk),
            noise_sigma=4.0,
            blur_px=3,
            jpeg_quality=80,
            seed=3,
        )
        out[name] = sc.frame
        out["roi"] = sc.roi
    return out


def _flash(on: str, hz: float, t0: float) -> Callable[[float], str]:
    """Lamp ``on`` lit for the first half of every period from ``t0``, dark the second."""
    return lambda t: on if ((t - t0) * hz) % 1.0 < 0.5 else "dark"


def _run(reader, schedule: Callable[[float], str], frames, fps: float, until: float):
    readings = []
    for k in range(int(until * fps)):
        t = k / fps
        readings.append(reader.update(frames[schedule(t)], t))  # type: ignore[index]
    return readings


def _reader(frames, **kw) -> RoiColourReader:
    return RoiColourReader(SignalConfig(roi=frames["roi"], **kw))


@pytest.mark.parametrize("fps", [10.0, 25.0])
@pytest.mark.parametrize("hz", [0.5, 1.0, 2.0])
@pytest.mark.parametrize(("stop", "walk"), [("red", "green"), ("orange", "white")])
def test_flashing_red_is_recognised_and_steady_red_times_from_its_start(fps, hz, stop, walk):
    """Walk 3 s, flashing hand (US clearance) for 4 periods, then steady hand."""
    frames = _frames(stop, walk)
    t_flash, t_steady = 3.0, 3.0 + 4 / hz
    flash = _flash("stop", hz, t_flash)

    def schedule(t: float) -> str:
        return "walk" if t < t_flash else flash(t) if t < t_steady else "stop"

    reader = _reader(frames, stop_colour=stop, walk_colour=walk)
    readings = _run(reader, schedule, frames, fps, t_steady + 3.0)
    # Recognised within three flash runs (plus hysteresis), then held without a break.
    settled = t_flash + 3 / (2 * hz) + 4 / fps + 0.35
    during = [r.state for r in readings if settled <= r.t < t_steady]
    assert during and set(during) == {FR}, (settled, during)
    # While flashing, a "red" (the hysteresis holding a flash) never lasts as long as the
    # rule's settle time (edge/rule/crossing.py: 1.3 s), so it can never time an entry.
    for r in readings:
        if t_flash <= r.t < t_steady and r.state is R:
            assert r.since is not None and r.t - r.since < 1.3, r
    # The steady hand: red from the first frame of its (last) lit run, i.e. t_steady.
    end = readings[-1]
    assert end.state is R
    assert end.since == pytest.approx(t_steady, abs=1 / fps + 1e-6)


@pytest.mark.parametrize("fps", [10.0, 25.0])
@pytest.mark.parametrize("hz", [0.5, 2.0])
def test_flashing_green_then_red(fps, hz):
    """Walk, flashing walk (hurry up), then the stop lamp: red timed from its onset."""
    frames = _frames()
    t_flash, t_red = 2.0, 2.0 + 5 / hz
    flash = _flash("walk", hz, t_flash)

    def schedule(t: float) -> str:
        return "walk" if t < t_flash else flash(t) if t < t_red else "stop"

    readings = _run(_reader(frames), schedule, frames, fps, t_red + 2.0)
    # The first flash continues the steady walk, so the pattern shows one run later.
    settled = t_flash + 4 / (2 * hz) + 4 / fps + 0.35
    assert {r.state for r in readings if settled <= r.t < t_red} == {FG}
    end = readings[-1]
    assert end.state is R and end.since == pytest.approx(t_red, abs=1 / fps + 1e-6)


@pytest.mark.parametrize("fps", [10.0, 25.0])
def test_flicker_is_not_flashing(fps):
    """A steady red that drops out for one frame now and then, and has a few unreadable
    frames (both lamps lit: glare), stays one red with its start."""
    frames = _frames()
    rng = np.random.default_rng(1)
    bad = {int(k): ("dark" if rng.random() < 0.6 else "both") for k in rng.choice(
        np.arange(int(1.2 * fps), int(10 * fps)), size=12, replace=False)}  # fmt: skip

    def schedule(t: float) -> str:
        if t < 1.0:
            return "walk"
        return bad.get(round(t * fps), "stop")

    readings = _run(_reader(frames), schedule, frames, fps, 10.0)
    assert not any(r.state.flashing for r in readings)
    late = [r for r in readings if r.t >= 1.5]
    assert {r.state for r in late} == {R}
    assert all(r.since == pytest.approx(1.0, abs=1 / fps + 1e-6) for r in late)


@pytest.mark.parametrize("fps", [10.0, 25.0])
def test_slow_red_dark_alternation_is_not_flashing(fps):
    """A head switched off and on every 2 s (a fault, a maintenance test) is red and dark
    in turn, each red timed from its own onset, never a flashing phase."""
    frames = _frames()
    readings = _run(_reader(frames), _flash("stop", 0.25, 0.0), frames, fps, 12.0)
    assert not any(r.state.flashing for r in readings)
    assert {r.state for r in readings if r.t > 0.5} == {R, D}
    for r in readings:
        if r.state is R and r.since is not None:
            assert (r.since * 0.25) % 1.0 < 0.1  # each red starts at a lamp-on moment


def _walker_entering(at_t: float):
    """Tracks for one person whose foot steps into the zone y >= 100 at ``at_t``."""

    def tracks(t: float) -> Tracks:
        y = 120.0 if t >= at_t else 80.0
        return Tracks(
            np.array([[90, y - 50, 110, y]], np.float32), np.array([7]), np.array([0.9], np.float32)
        )

    return tracks


def _rule_run(reader, frames, schedule, fps, until, entry_t, **crossing):
    cfg = CrossingConfig(zone=[(0, 100), (200, 100), (200, 200), (0, 200)], **crossing)
    rule = CrossingRule(cfg, settle_s=1.3)
    tracks = _walker_entering(entry_t)
    hits = []
    for k in range(int(until * fps)):
        t = k / fps
        reading = reader.update(frames[schedule(t)] if frames else None, t)
        hits += rule.update(tracks(t), reading, frame=k)
    return hits + rule.flush()


@pytest.mark.parametrize("hz", [0.5, 1.0])
def test_entering_during_flashing_is_not_an_offence_by_default_but_can_be(hz):
    fps = 10.0
    frames = _frames()
    t_flash, t_steady = 3.0, 3.0 + 4 / hz
    flash = _flash("stop", hz, t_flash)

    def schedule(t: float) -> str:
        return "walk" if t < t_flash else flash(t) if t < t_steady else "stop"

    # Stepping out 0.8 s into the very first flash (0.5 Hz: lit for 1 s): not a red.
    early = t_flash + 0.4 / hz + 0.2
    for entry_t in (early, t_flash + 2.6 / hz):
        hits = _rule_run(_reader(frames), frames, schedule, fps, t_steady + 3, entry_t)
        assert hits == [], (entry_t, [(h.t, h.red_for_s, h.signal.state) for h in hits])
    # Where the site makes it one, the stop period counts from the flashing's start.
    entry_t = t_flash + 2.6 / hz
    hits = _rule_run(
        _reader(frames), frames, schedule, fps, t_steady + 3, entry_t, flashing_offence=True
    )
    assert len(hits) == 1 and hits[0].signal.state is FR
    assert hits[0].red_for_s == pytest.approx(entry_t - t_flash, abs=3 / (2 * hz) + 0.5)
    # The steady red after the flashing starts the timer: 0.8 s in is beyond grace.
    hits = _rule_run(_reader(frames), frames, schedule, fps, t_steady + 3, t_steady + 0.8)
    assert len(hits) == 1 and hits[0].signal.state is R
    assert hits[0].red_for_s == pytest.approx(0.8, abs=0.11)
    # ... and 0.3 s in is within it.
    assert _rule_run(_reader(frames), frames, schedule, fps, t_steady + 3, t_steady + 0.3) == []


def test_controller_flashing_phase_then_red():
    """The controller says so itself: flashing_red is no offence by default; the steady
    red that follows is timed from its own start (or from the flashing's, if the site
    makes flashing an offence)."""

    def feed() -> ControllerFeedReader:
        r = ControllerFeedReader(timeout_s=5.0)
        r.extend([{"t": 0.0, "phase": "green"}, {"t": 3.0, "phase": "flashing_red"},
                  {"t": 4.0, "phase": "flashing_red"}, {"t": 6.0, "phase": "red"},
                  {"t": 7.0, "phase": "red"}, {"t": 8.0, "phase": "red"}])  # fmt: skip
        return r

    reading = feed().update(None, 4.5)
    assert (reading.state, reading.since) == (FR, 3.0)
    reading = feed().update(None, 7.0)
    assert (reading.state, reading.since, reading.previous, reading.previous_since) == (
        R, 6.0, FR, 3.0,
    )  # fmt: skip
    for entry_t, offence, expect in [
        (4.5, False, None),
        (4.5, True, 1.5),
        (6.8, False, 0.8),
        (6.8, True, 3.8),
    ]:
        cfg = CrossingConfig(
            zone=[(0, 100), (200, 100), (200, 200), (0, 200)], flashing_offence=offence
        )
        rule, reader, tracks, hits = CrossingRule(cfg), feed(), _walker_entering(entry_t), []
        for k in range(90):
            t = k / 10
            hits += rule.update(tracks(t), reader.update(None, t), frame=k)
        got = hits[0].red_for_s if hits else None
        assert got == (None if expect is None else pytest.approx(expect, abs=0.01)), (
            entry_t, offence, got,
        )  # fmt: skip
