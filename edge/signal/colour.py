"""Lamp colours in HSV and the rule that turns lit fractions into a signal state.

A lit lamp is the one thing on a signal head that is both bright and strongly coloured
(or, for the US walking man, bright and white). Measuring the *fraction* of such pixels in
the part of the ROI where a lamp sits, instead of training a classifier, keeps the reader
explainable in court ("23 % of the stop lamp's pixels were bright red") and needs no data
that does not exist (no pedestrian-signal data set is available, see notes/models.md).

Hues use OpenCV's 8-bit HSV scale: H 0..179 (degrees / 2), S and V 0..255.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from edge.signal.base import SignalState

LampColour = Literal["red", "orange", "green", "white"]


@dataclass(frozen=True, slots=True)
class HsvRange:
    """Pixels of one lamp colour: hue in any of ``hues`` (inclusive, OpenCV scale) and
    saturation within [s_min, s_max]; brightness is checked separately (``min_value``)."""

    hues: tuple[tuple[int, int], ...]
    s_min: int
    s_max: int = 255
    # White has no hue, so brightness is what sets it apart from a pale grey housing.
    v_floor: int = 0


# Red wraps around hue 0; green spans green to cyan (LED "green" lamps are blue-green,
# H 80..95) and stops before sky blue (H 100+). A lamp bright enough to saturate the
# sensor has a near-white core and its colour only in the halo around it, which is why
# the saturation floors are low (S >= 40); white, grey and sky pixels stay below them.
# These bands were chosen on the training split of the vehicle-signal crops in
# sample_media/signal_crops/README.md (never on its test split); orange and white have
# no real data here and follow the same reasoning (US hand: saturated amber; walking
# man: bright, unsaturated).
COLOUR_RANGES: dict[LampColour, HsvRange] = {
    "red": HsvRange(hues=((0, 10), (160, 179)), s_min=40),
    "orange": HsvRange(hues=((8, 25),), s_min=90),
    "green": HsvRange(hues=((40, 95),), s_min=40),
    "white": HsvRange(hues=((0, 179),), s_min=0, s_max=60, v_floor=190),
}


def to_hsv(roi_bgr: np.ndarray) -> np.ndarray:
    """BGR (uint8, H×W×3) → HSV on OpenCV's 8-bit scale."""
    return cv2.cvtColor(roi_bgr, cv2.COLOR_BGR2HSV)


def colour_mask(hsv: np.ndarray, colour: LampColour, min_value: int) -> np.ndarray:
    """Boolean mask of pixels that are bright (V ≥ ``min_value``) and of ``colour``."""
    spec = COLOUR_RANGES[colour]
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    hue_ok = np.zeros(h.shape, dtype=bool)
    for lo, hi in spec.hues:
        hue_ok |= (h >= lo) & (h <= hi)
    return hue_ok & (s >= spec.s_min) & (s <= spec.s_max) & (v >= max(min_value, spec.v_floor))


def lit_fraction(hsv: np.ndarray, colour: LampColour, min_value: int) -> float:
    """Share of the pixels in ``hsv`` that are lit in ``colour`` (0 for an empty region)."""
    if hsv.size == 0:
        return 0.0
    return float(np.count_nonzero(colour_mask(hsv, colour, min_value))) / (
        hsv.shape[0] * hsv.shape[1]
    )


LampLevel = Literal["lit", "dark", "unsure"]


def lamp_level(fraction: float, min_lit_fraction: float) -> LampLevel:
    """Lit at or above ``min_lit_fraction``, dark below half of it, unsure in between.

    The unsure band exists so that a lamp hovering at the threshold (half-occluded, a
    reflection, sun on the lens) cannot alone decide a phase: unsure yields UNKNOWN, and
    UNKNOWN never produces a violation.
    """
    if fraction >= min_lit_fraction:
        return "lit"
    if fraction < min_lit_fraction / 2:
        return "dark"
    return "unsure"


def decide(stop: LampLevel, walk: LampLevel) -> SignalState:
    """Stop lit & walk dark → RED; walk lit & stop dark → GREEN; both dark → DARK;
    anything else (both lit, either unsure) → UNKNOWN."""
    if stop == "lit" and walk == "dark":
        return SignalState.RED
    if walk == "lit" and stop == "dark":
        return SignalState.GREEN
    if stop == "dark" and walk == "dark":
        return SignalState.DARK
    return SignalState.UNKNOWN


@dataclass(frozen=True, slots=True)
class LampMeasurement:
    """One frame's raw evidence: the lit fractions and the state they imply (no hysteresis)."""

    stop_fraction: float
    walk_fraction: float
    state: SignalState


def measure_head(
    roi_bgr: np.ndarray,
    *,
    layout: Literal["stacked", "single"],
    stop_colour: LampColour,
    walk_colour: LampColour,
    min_lit_fraction: float,
    min_value: int,
) -> LampMeasurement:
    """Measure one signal-head crop.

    ``stacked``: the stop lamp is looked for only in the upper half and the walk lamp only
    in the lower half, so that a reflection of one colour in the other lamp cannot flip
    the phase. ``single``: both colours are measured over the whole crop (one-lamp heads,
    vehicle-signal crops whose lamp order differs from a pedestrian head's).
    """
    hsv = to_hsv(roi_bgr)
    if layout == "stacked":
        mid = hsv.shape[0] // 2
        stop_region, walk_region = hsv[:mid], hsv[hsv.shape[0] - mid :]
    else:
        stop_region = walk_region = hsv
    stop_f = lit_fraction(stop_region, stop_colour, min_value)
    walk_f = lit_fraction(walk_region, walk_colour, min_value)
    state = decide(lamp_level(stop_f, min_lit_fraction), lamp_level(walk_f, min_lit_fraction))
    return LampMeasurement(stop_fraction=stop_f, walk_fraction=walk_f, state=state)
