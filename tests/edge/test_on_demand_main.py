"""Sub-stream mode converts the main stream to BGR only on demand (issue 18).

With ``detect_stream.source`` the detector, motion gate and signal reader work on the sub
stream's image and the signal ROI's pixels; the main frame is converted (the same
swscale call as before) only when full resolution is asked for: evidence stills and
clip, the face stage, the snapshot. These tests hold that to what matters:

* the ROI converted on its own is the full conversion's crop, byte for byte, on real
  scenes (odd offsets, frame edges), so the signal reader reads the same pixels;
* over a real scene, a pipeline fed on-demand frames finds the same violations as one
  fed always-converted frames, with equal stills and clip frames (same frame index,
  equal pixels, equal boxes and phases), while the frame loop itself converts no main
  frame at all (every frame paired: nothing fell back to the main image).
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import yaml

from edge.av_capture import AvSource, OnDemandMain
from edge.capture import Frame
from edge.config import CameraConfig
from edge.pipeline import build_pipeline
from edge.scene_health import SceneMonitor
from tests.edge.scene_video import encode_scene

REPO = Path(__file__).resolve().parents[2]
SCENES = REPO / "sample_media" / "scenes"
VTEST = SCENES / "vtest_road"
SUB_W, SUB_H = 384, 288


@pytest.mark.parametrize(
    "scene", ["vtest_road", "hd_crossing", "synthetic_rules", "synthetic_rules_us"]
)
def test_a_region_converted_alone_equals_the_full_conversions_crop(scene: str) -> None:
    roi = yaml.safe_load((SCENES / scene / "camera.yaml").read_text())["signal"]["roi"]
    checked = 0
    with av.open(str(SCENES / scene / "video.mp4")) as c:
        for n, vf in enumerate(c.decode(c.streams.video[0])):
            if n >= 40:
                break
            full = vf.to_ndarray(format="bgr24")
            h, w = full.shape[:2]
            regions = [tuple(roi), (0, 0, 17, 9), (1, 1, 2, 2), (w - 31, h - 13, 31, 13)]
            regions += [(w // 3 + 1, h // 2 + 1, 55, 77), (w - 1, h - 1, 1, 1)]
            lazy = OnDemandMain(vf)
            for x, y, rw, rh in regions:
                part = lazy.crop(x, y, rw, rh)
                assert part.shape == (rh, rw, 3)
                assert np.array_equal(part, full[y : y + rh, x : x + rw]), (scene, n, x, y)
                checked += 1
            luma = lazy.luma().copy()
            assert np.array_equal(lazy.bgr(), full)
            assert np.array_equal(lazy.luma(), luma)  # the Y plane survives the conversion
            x, y, rw, rh = roi
            assert np.array_equal(lazy.crop(x, y, rw, rh), full[y : y + rh, x : x + rw])
    assert checked == 40 * 6


def _run(cfg: CameraConfig, sub: Path, on_demand: bool, faces: str | None = None):
    src = AvSource(
        VTEST / "video.mp4",
        camera_id=cfg.id,
        analysis_fps=cfg.fps,
        detect_source=sub,
        max_skew_s=cfg.detect_stream.max_skew_s,  # type: ignore[union-attr]
        on_demand_main=on_demand,
    )
    pipe = build_pipeline(cfg, faces)  # type: ignore[arg-type]
    found, frames, converted_in_loop = [], 0, 0
    for frame in src:
        assert frame.on_demand == on_demand
        found += pipe.process(frame)
        frames += 1
        converted_in_loop += on_demand and frame.converted
    found += pipe.flush()
    return found, frames, converted_in_loop, src.pairer


def test_on_demand_frames_give_the_same_violations_and_the_same_evidence_pixels(
    tmp_path: Path,
) -> None:
    sub = encode_scene(VTEST / "video.mp4", tmp_path / "sub.mp4", SUB_W, SUB_H)
    cam = yaml.safe_load((VTEST / "camera.yaml").read_text())
    cam["detect_stream"] = {"source": str(sub), "max_skew_s": 0.04}
    cam["evidence"] = {**cam.get("evidence", {}), "clip": True}
    cfg = CameraConfig.model_validate(cam)

    lazy, n_lazy, converted, pairer = _run(cfg, sub, on_demand=True)
    eager, n_eager, _, _ = _run(cfg, sub, on_demand=False)

    assert n_lazy == n_eager > 0
    assert pairer.unpaired == 0 and pairer.paired == n_lazy
    # Detector, motion gate and signal reader never needed the main image.
    assert converted == 0
    assert lazy, "the scene has violations"
    assert [(v.entry.track_id, v.entry.frame) for v in lazy] == [
        (v.entry.track_id, v.entry.frame) for v in eager
    ]
    for a, b in zip(lazy, eager, strict=True):
        assert a.entry.red_for_s == b.entry.red_for_s
        assert np.array_equal(a.entry.bbox, b.entry.bbox)
        assert a.raw is not None and b.raw is not None
        assert sorted(a.raw.stills) == sorted(b.raw.stills)
        pairs = [(a.raw.stills[r], b.raw.stills[r]) for r in a.raw.stills]
        assert len(a.raw.clip) == len(b.raw.clip) > 0
        pairs += list(zip(a.raw.clip, b.raw.clip, strict=True))
        for fa, fb in pairs:
            assert fa.frame.index == fb.frame.index
            assert (fa.box, fa.phase, fa.red_for_s) == (fb.box, fb.phase, fb.red_for_s)
            assert not fb.frame.on_demand and fa.frame.on_demand
            assert np.array_equal(fa.frame.image, fb.frame.image)  # converted here
            assert fa.frame.image.shape == (576, 768, 3)


def test_scene_health_on_demand_flags_a_frozen_main_stream_without_converting() -> None:
    """The frozen check compares the main frame's Y plane; light checks convert only the
    frames they run on."""
    cfg = CameraConfig.model_validate(yaml.safe_load((VTEST / "camera.yaml").read_text()))
    with av.open(str(VTEST / "video.mp4")) as c:
        vf = next(iter(c.decode(c.streams.video[0])))
    scene = SceneMonitor(cfg.health, cfg.crossing.zone)
    frames = [Frame(i, i * 0.1, main=OnDemandMain(vf)) for i in range(int(40 / 0.1))]
    for f in frames:
        scene.observe(lambda f=f: f.image, f.t, f.frozen_sample())
    assert "frozen" in [flag.check for flag in scene.flags()]
    converted = sum(f.converted for f in frames)
    every = cfg.health.check_every_s
    assert 0 < converted <= 40 / every + 1 < len(frames)


@pytest.mark.parametrize("on_demand", [True, False])
def test_live_path_converts_on_demand_to_the_same_pixels(tmp_path: Path, on_demand: bool) -> None:
    """``edge run``'s path (``_live_frames``: gateway clock, reconnecting reader), fed a
    ``file://`` URL (FFmpeg reads it as a stream). Each frame's converted image and ROI
    crop are the file's frame of that number, byte for byte."""
    sub = encode_scene(VTEST / "video.mp4", tmp_path / "sub.mp4", SUB_W, SUB_H)
    with av.open(str(VTEST / "video.mp4")) as c:
        expected = [
            vf.to_ndarray(format="bgr24")
            for _, vf in zip(range(30), c.decode(video=0), strict=False)
        ]
    src = AvSource(
        f"file://{VTEST / 'video.mp4'}",
        camera_id="live",
        detect_source=f"file://{sub}",
        max_skew_s=0.5,  # two files read flat out, times of arrival: pairing is not tested
        on_demand_main=on_demand,
    )
    assert src.live
    seen = 0
    for frame in src:
        k = frame.index - 1  # the live path counts from 1 per connection
        if k >= len(expected) or frame.segment > 0:
            break
        assert frame.on_demand == on_demand and frame.converted != on_demand
        x, y, w, h = 398, 100, 24, 48  # vtest_road's signal ROI
        assert np.array_equal(frame.crop(x, y, w, h), expected[k][y : y + h, x : x + w])
        assert np.array_equal(frame.image, expected[k])
        assert frame.converted
        seen += 1
    src.stop()
    assert seen > 0


@pytest.mark.parametrize(
    ("scene", "detect_wh"), [("vtest_road", (384, 288)), ("hd_crossing", (640, 360))]
)
def test_the_detect_image_motion_gate_uses_the_main_images_grey_size_and_mask(
    scene: str, detect_wh: tuple[int, int]
) -> None:
    """Motion on the detect image: the ROI left out and the person-sized threshold are
    the main gate's exactly (computed in main pixels), not rescaled approximations."""
    cam = yaml.safe_load((SCENES / scene / "camera.yaml").read_text())
    cfg = CameraConfig.model_validate(cam)
    pipe = build_pipeline(cfg, None)
    with av.open(str(SCENES / scene / "video.mp4")) as c:
        vf = next(iter(c.decode(video=0)))
    main = vf.to_ndarray(format="bgr24")
    small = cv2.resize(main, detect_wh, interpolation=cv2.INTER_AREA)
    frame = Frame(0, 0.0, main=OnDemandMain(vf), detect=small)
    pipe.detect(frame)
    assert not frame.converted
    gate = pipe._detect_motion(frame)
    pipe.motion.update(main, 0.0)
    assert gate._mask is not None and pipe.motion._mask is not None
    assert np.array_equal(gate._mask, pipe.motion._mask)
    assert gate._min_fraction == pipe.motion._min_fraction
    assert gate._prev is not None and gate._prev.shape == pipe.motion._prev.shape  # type: ignore[union-attr]
    assert (~gate._mask).any()  # the signal ROI is masked out, tiled (hd_crossing) too


def test_with_the_face_stage_only_flagged_tracks_frames_are_converted(tmp_path: Path) -> None:
    """The face stage looks at the flagged track's frames: those are converted in the
    frame loop, no others, and its decisions are those on always-converted frames."""
    sub = encode_scene(VTEST / "video.mp4", tmp_path / "sub.mp4", SUB_W, SUB_H)
    cam = yaml.safe_load((VTEST / "camera.yaml").read_text())
    cam["detect_stream"] = {"source": str(sub), "max_skew_s": 0.04}
    cam["faces"] = {**cam.get("faces", {}), "enabled": True}
    cfg = CameraConfig.model_validate(cam)
    lazy, n, converted, pairer = _run(cfg, sub, on_demand=True, faces="config")
    eager, _, _, _ = _run(cfg, sub, on_demand=False, faces="config")
    assert pairer.unpaired == 0
    assert lazy and [(v.entry.track_id, v.entry.frame, v.faces_used) for v in lazy] == [
        (v.entry.track_id, v.entry.frame, v.faces_used) for v in eager
    ]
    assert 0 < converted < n  # the flagged tracks' frames, not every frame
