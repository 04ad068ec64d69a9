"""Hysteresis: flicker is ignored, ``since`` is the first frame of the confirming run,
and a phase already showing at start-up has an unseen start."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config import SignalConfig
from edge.signal import SignalState, create_signal_reader
from edge.signal.hysteresis import Hysteresis

R, G, D, U = SignalState.RED, SignalState.GREEN, SignalState.DARK, SignalState.UNKNOWN
DT = 0.1  # 10 fps


def _run(raw: list[SignalState], frames: int = 3):
    h = Hysteresis(frames)
    return [h.update(s, i * DT) for i, s in enumerate(raw)]


def test_state_needs_n_agreeing_frames_and_since_is_first_frame_of_run():
    out = _run([G] * 5 + [R] * 4)
    assert [r.state for r in out] == [U, U, G, G, G, G, G, R, R]
    assert out[7].since == pytest.approx(5 * DT)  # the first red frame, not the confirming one
    assert out[8].red_for() == pytest.approx(3 * DT)


def test_single_frame_flicker_does_not_change_state_or_since():
    out = _run([G] * 4 + [R] * 5 + [G] + [R] * 3 + [D, D] + [R])
    red = out[6:]
    assert all(r.state is R for r in red)
    assert all(r.since == pytest.approx(4 * DT) for r in red)


def test_flicker_of_n_minus_one_frames_is_ignored_n_frames_is_not():
    out = _run([R] * 5 + [G, G] + [R] * 3, frames=3)
    assert all(r.state is R for r in out[2:])
    out = _run([R] * 5 + [G] * 3 + [R] * 3, frames=3)
    assert out[7].state is G and out[7].since == pytest.approx(5 * DT)
    assert out[10].state is R and out[10].since == pytest.approx(8 * DT)


def test_state_showing_at_start_up_has_unknown_since():
    out = _run([R] * 6)
    assert out[-1].state is R
    assert out[-1].since is None
    assert out[-1].red_for() is None


def test_start_up_after_unreadable_frames_or_flicker_is_still_unseen():
    assert _run([U] * 4 + [R] * 4)[-1].since is None
    assert _run([R, G, R, R, R, R])[-1].since is None


def test_first_change_after_a_confirmed_phase_has_a_since():
    out = _run([R] * 4 + [G] * 4 + [R] * 3)
    assert out[3].since is None  # red showing at start-up
    assert out[7].state is G and out[7].since == pytest.approx(4 * DT)
    assert out[10].state is R and out[10].since == pytest.approx(8 * DT)


def test_unknown_frames_between_phases_do_not_hide_the_change():
    out = _run([G] * 4 + [U] + [R] * 3)
    assert out[-1].state is R and out[-1].since == pytest.approx(5 * DT)


def test_reset_makes_the_next_start_unseen():
    h = Hysteresis(2)
    for i, s in enumerate([G, G, R, R]):
        r = h.update(s, i * DT)
    assert r.state is R and r.since == pytest.approx(2 * DT)
    h.reset()
    r = h.update(R, 1.0)
    r = h.update(R, 1.1)
    assert r.state is R and r.since is None


def test_time_going_backwards_is_an_error():
    h = Hysteresis(2)
    h.update(R, 1.0)
    with pytest.raises(ValueError, match="backwards"):
        h.update(R, 0.5)
    with pytest.raises(ValueError, match=">= 1"):
        Hysteresis(0)


@settings(max_examples=200, deadline=None)
@given(
    raw=st.lists(st.sampled_from([R, G, D, U]), min_size=1, max_size=60),
    frames=st.integers(min_value=1, max_value=5),
)
def test_confirmation_invariants(raw, frames):
    """A change is reported exactly when the last ``frames`` raw states agree on it, and
    its ``since`` is the time of the first of those frames."""
    out = _run(raw, frames)
    prev = U
    for k, r in enumerate(out):
        if r.state is not prev:
            window = raw[k - frames + 1 : k + 1] if k + 1 >= frames else []
            assert window == [r.state] * frames
            if r.since is not None:
                assert r.since == pytest.approx((k - frames + 1) * DT)
        else:
            agreed = k + 1 >= frames and raw[k - frames + 1 : k + 1] == [raw[k]] * frames
            assert not (agreed and raw[k] is not prev)
        assert r.since is None or r.since <= r.t
        prev = r.state


def test_reader_hysteresis_on_synthetic_frames(scene):
    """Green, a one-frame red glitch, green again, then red: the reader through frames."""
    green = scene(walk_lit=True, noise_sigma=6.0, jpeg_quality=50)
    red = scene(stop_lit=True, noise_sigma=6.0, jpeg_quality=50, seed=1)
    reader = create_signal_reader(SignalConfig(roi=green.roi, hysteresis_frames=3))
    frames = [green] * 4 + [red] + [green] * 3 + [red] * 5
    out = [reader.update(s.frame, 10.0 + i * DT) for i, s in enumerate(frames)]
    assert [r.state for r in out[2:8]] == [G] * 6
    assert out[2].since is None  # green already on at start-up
    assert [r.state for r in out[10:]] == [R] * 3
    assert out[-1].since == pytest.approx(10.0 + 8 * DT)
    assert out[-1].red_for() == pytest.approx(4 * DT)
