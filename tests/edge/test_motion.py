from __future__ import annotations

import numpy as np

from edge.config import MotionConfig
from edge.motion import MotionGate


def scene(person_x: int | None = None, lamp: int = 0) -> np.ndarray:
    img = np.full((240, 320, 3), 90, np.uint8)
    img[200:, :] = 60  # road
    img[10:40, 290:310] = (0, 0, 255) if lamp else (30, 30, 30)  # signal head
    if person_x is not None:
        img[120:200, person_x : person_x + 20] = (200, 180, 160)
    return img


def test_static_scene_is_skipped_after_hold() -> None:
    gate = MotionGate(MotionConfig(hold_s=0.5))
    results = [gate.update(scene(), i * 0.1) for i in range(20)]
    assert results[0] is True
    assert not any(results[7:])
    assert gate.skipped_share > 0.6


def test_walking_person_opens_the_gate() -> None:
    gate = MotionGate(MotionConfig(hold_s=0.0))
    for i in range(5):
        gate.update(scene(), i * 0.1)
    opened = [gate.update(scene(100 + 4 * i), 0.5 + i * 0.1) for i in range(10)]
    assert all(opened)


def test_signal_lamp_switching_is_not_motion() -> None:
    gate = MotionGate(MotionConfig(hold_s=0.0), exclude_rois=[(290, 10, 20, 30)])
    gate.update(scene(lamp=0), 0.0)
    gate.update(scene(lamp=0), 0.1)
    assert gate.update(scene(lamp=1), 0.2) is False


def test_disabled_gate_always_runs() -> None:
    gate = MotionGate(MotionConfig(enabled=False))
    assert all(gate.update(scene(), i * 0.1) for i in range(10))
