"""The ROI colour rule on synthetic pedestrian heads (drawn in conftest.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edge.config import ConfigError, SignalConfig
from edge.signal import RoiColourReader, SignalState, create_signal_reader
from edge.signal.colour import decide, lamp_level, lit_fraction, measure_head, to_hsv

COLOUR_SETS = [("red", "green"), ("orange", "white")]
LAMPS = {  # (stop lit, walk lit) -> state
    (True, False): SignalState.RED,
    (False, True): SignalState.GREEN,
    (False, False): SignalState.DARK,
    (True, True): SignalState.UNKNOWN,
}
DEGRADATIONS = {
    "clean": {},
    "noise": {"noise_sigma": 12.0},
    "blur": {"blur_px": 5},
    "jpeg": {"jpeg_quality": 30},
    "all": {"noise_sigma": 10.0, "blur_px": 5, "jpeg_quality": 35},
}


def _cfg(roi: tuple[int, int, int, int], **kw: object) -> SignalConfig:
    return SignalConfig(roi=roi, hysteresis_frames=1, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("lamp_px", [40, 18])
@pytest.mark.parametrize("degradation", list(DEGRADATIONS))
@pytest.mark.parametrize(("stop", "walk"), COLOUR_SETS)
def test_every_state_is_read_on_synthetic_heads(scene, stop, walk, degradation, lamp_px):
    for (stop_lit, walk_lit), expected in LAMPS.items():
        s = scene(
            stop_colour=stop,
            walk_colour=walk,
            stop_lit=stop_lit,
            walk_lit=walk_lit,
            lamp_px=lamp_px,
            seed=lamp_px,
            **DEGRADATIONS[degradation],
        )
        reader = RoiColourReader(_cfg(s.roi, stop_colour=stop, walk_colour=walk))
        reading = reader.update(s.frame, 0.0)
        m = reader.last_measurement
        assert reading.state is expected, (stop_lit, walk_lit, m)


@pytest.mark.parametrize(("stop", "walk"), COLOUR_SETS)
def test_stacked_layout_looks_for_each_colour_only_in_its_own_lamp(scene, stop, walk):
    """The stop colour lit in the *lower* lamp (a reflection, a neighbouring head) is no red."""
    s = scene(stop_colour=stop, walk_colour=walk, stop_lit=True, swap_lamps=True)
    stacked = RoiColourReader(_cfg(s.roi, stop_colour=stop, walk_colour=walk))
    assert stacked.update(s.frame, 0.0).state is SignalState.DARK
    single = RoiColourReader(_cfg(s.roi, stop_colour=stop, walk_colour=walk, layout="single"))
    assert single.update(s.frame, 0.0).state is SignalState.RED


@pytest.mark.parametrize(("stop_lit", "walk_lit"), list(LAMPS))
def test_single_layout_reads_by_colour_alone(scene, stop_lit, walk_lit):
    s = scene(stop_lit=stop_lit, walk_lit=walk_lit, swap_lamps=True, noise_sigma=8.0)
    reader = RoiColourReader(_cfg(s.roi, layout="single"))
    assert reader.update(s.frame, 0.0).state is LAMPS[(stop_lit, walk_lit)]


def test_wrong_colour_config_never_reads_red(scene):
    """A US head (orange hand, white man) read with European colours: no phase is RED."""
    for stop_lit, walk_lit in LAMPS:
        s = scene(stop_colour="orange", walk_colour="white", stop_lit=stop_lit, walk_lit=walk_lit)
        reader = RoiColourReader(_cfg(s.roi, stop_colour="red", walk_colour="green"))
        assert reader.update(s.frame, 0.0).state is not SignalState.RED


def test_lamp_levels_and_decision_table():
    assert lamp_level(0.05, 0.04) == "lit"
    assert lamp_level(0.04, 0.04) == "lit"
    assert lamp_level(0.03, 0.04) == "unsure"
    assert lamp_level(0.0199, 0.04) == "dark"
    levels = ["lit", "dark", "unsure"]
    for stop, walk in itertools.product(levels, levels):
        state = decide(stop, walk)  # type: ignore[arg-type]
        expected = {
            ("lit", "dark"): SignalState.RED,
            ("dark", "lit"): SignalState.GREEN,
            ("dark", "dark"): SignalState.DARK,
        }.get((stop, walk), SignalState.UNKNOWN)
        assert state is expected, (stop, walk)


def test_half_lit_stop_lamp_is_unknown_not_red(scene):
    """A stop lamp whose lit share falls in the unsure band gives UNKNOWN."""
    s = scene(stop_lit=True)
    x, y, w, h = s.roi
    top = to_hsv(s.frame[y : y + h // 2, x : x + w])
    f = lit_fraction(top, "red", 120)
    # A threshold just above the measured share puts the lamp in the unsure band.
    m = measure_head(
        s.frame[y : y + h, x : x + w],
        layout="stacked",
        stop_colour="red",
        walk_colour="green",
        min_lit_fraction=min(0.99, f * 1.5),
        min_value=120,
    )
    assert m.stop_fraction == pytest.approx(f)
    assert m.state is SignalState.UNKNOWN


def test_dim_lamp_below_min_value_is_dark(scene):
    s = scene(stop_lit=True)
    dim = (s.frame.astype(np.float32) * 0.4).astype(np.uint8)  # dusk, lens dirt
    bright_cfg = _cfg(s.roi, min_value=120)
    assert RoiColourReader(bright_cfg).update(dim, 0.0).state is SignalState.DARK
    dusk_cfg = _cfg(s.roi, min_value=60)
    assert RoiColourReader(dusk_cfg).update(dim, 0.0).state is SignalState.RED


@pytest.mark.parametrize(
    "roi", [(300, 10, 40, 80), (10, 200, 40, 80), (0, 0, 321, 10), (0, 0, 10, 241)]
)
def test_roi_outside_frame_names_the_key_and_frame_size(scene, roi):
    s = scene()  # 320×240
    reader = create_signal_reader(SignalConfig(roi=roi))
    with pytest.raises(ConfigError) as e:
        reader.update(s.frame, 0.0)
    assert "signal.roi" in str(e.value)
    assert "320×240" in str(e.value)


def test_roi_exactly_at_frame_edge_is_accepted(scene):
    s = scene()
    reader = create_signal_reader(SignalConfig(roi=(280, 160, 40, 80)))
    assert reader.update(s.frame, 0.0).state is SignalState.UNKNOWN  # not yet confirmed


def test_roi_reader_needs_a_roi_and_a_frame(scene):
    with pytest.raises(ConfigError, match=r"signal\.roi"):
        RoiColourReader(SignalConfig())
    reader = RoiColourReader(SignalConfig(roi=(0, 0, 10, 10)))
    with pytest.raises(ValueError, match="needs a frame"):
        reader.update(None, 0.0)
    with pytest.raises(ValueError, match="BGR uint8"):
        reader.update(np.zeros((20, 20), np.uint8), 0.0)
