from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import yaml

from edge.config import CameraConfig, MotionConfig
from edge.motion import MotionGate, work_scale


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


# --- a tiled 1080p camera (issue 18): the grey copy is larger than 160 px wide ---------

HD = Path(__file__).resolve().parents[2] / "sample_media" / "scenes" / "hd_crossing"


def hd_gate(camera: str = "hd_crossing") -> tuple[MotionGate, tuple[int, int, int, int]]:
    """The gate a shipped 1080p camera.yaml builds (hold 0 so each frame is judged alone)."""
    yml = HD.parent / camera / "camera.yaml"
    cfg = CameraConfig.model_validate(yaml.safe_load(yml.read_text()))
    assert cfg.signal.roi is not None and cfg.detector.tiling.mode != "off"
    roi = tuple(cfg.signal.roi)
    gate = MotionGate(
        cfg.motion.model_copy(update={"hold_s": 0.0}),
        exclude_rois=[roi],
        min_person_px=cfg.detector.tiling.far_person_px,
    )
    return gate, roi  # type: ignore[return-value]


def hd_frames(*indices: int) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    with av.open(str(HD / "video.mp4")) as c:
        for i, vf in enumerate(c.decode(video=0)):
            if i in indices:
                out[i] = vf.to_ndarray(format="bgr24")
            if i >= max(indices):
                break
    return out


def test_tiled_grey_copy_keeps_the_aspect_and_masks_the_roi_where_it_is() -> None:
    """One scale for width, height and mask: the ROI's pixels of the grey copy are masked
    (before, the copy stayed 160 wide and the mask fell off its right edge)."""
    gate, (x, y, w, h) = hd_gate()
    frame = hd_frames(0)[0]
    gate.update(frame, 0.0)
    scale = work_scale(1920, gate.min_person_px)
    assert gate._prev is not None and gate._mask is not None
    assert gate._prev.shape == (round(1080 * scale), round(1920 * scale))
    # Where the ROI's pixels land in the grey copy, found from the image itself: a frame
    # whose ROI alone is white, resized as the gate resizes.
    marked = np.zeros_like(frame)
    marked[y : y + h, x : x + w] = 255
    small = cv2.resize(marked, gate._prev.shape[::-1], interpolation=cv2.INTER_LINEAR)
    roi_px = small.max(axis=2) > 0
    assert roi_px.sum() > 0
    assert not gate._mask[roi_px].any()
    assert gate._mask.mean() > 0.99  # only the signal head is left out


@pytest.mark.parametrize("camera", ["hd_crossing", "hd_crossing_dusk"])
def test_tiled_gate_ignores_the_lamps_switching_on_a_real_hd_frame(camera: str) -> None:
    """hd_crossing's lamps change between frames 49 and 50; frame 49 with only its ROI
    replaced by frame 50's is a lamp-only change: the gate stays shut. The dusk camera
    (same ROI and size, ``pixel_threshold`` 10) is judged on the day frames: its lower
    threshold is where an unmasked lamp counts as motion."""
    gate, (x, y, w, h) = hd_gate(camera)
    frames = hd_frames(49, 50)
    before = frames[49]
    lamp_only = before.copy()
    lamp_only[y : y + h, x : x + w] = frames[50][y : y + h, x : x + w]
    assert np.abs(lamp_only.astype(int) - before).max() > 50  # the lamps did change
    gate.update(before, 0.0)
    gate.update(before, 0.1)
    assert gate.update(lamp_only, 0.2) is False
    # ...while a person-sized change elsewhere still opens it
    moved = before.copy()
    moved[400:455, 600:622] = 255 - moved[400:455, 600:622]
    assert gate.update(moved, 0.3) is True
