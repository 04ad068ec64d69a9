"""Evidence rendering on the real face scene (sample_media/faces/scene), through
``jaywatch edge process``: faces blurred with identification switched off, each still's
own box and time, the data bar, and the clip (decoded back with PyAV)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import yaml

from edge.capture import VideoFileSource
from edge.config import load_camera_config
from edge.evidence_render import EvidenceRenderer, wall_clock
from edge.faces.anonymise import FaceBlurrer, face_region
from edge.faces.detect import YuNetDetector
from edge.pipeline import build_pipeline
from jaywatch_app.cli import main
from tests.edge.faces.helpers import REPO, face_scene_true_box, laplacian_energy

SCENE = REPO / "sample_media" / "faces" / "scene"
WALKER_AT = {62: "A", 123: "B"}  # entry frame (ground_truth.json) -> walker id


def camera_yaml(tmp: Path, **override: object) -> Path:
    data = yaml.safe_load((SCENE / "camera.yaml").read_text())
    data["source"] = str(SCENE / "video.mp4")
    data.update(override)
    path = tmp / "camera.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def detector() -> YuNetDetector:
    """The locator of faces on the RAW frames (what must come out blurred)."""
    return YuNetDetector()


@pytest.fixture(scope="module")
def raw_frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(SCENE / "video.mp4"))
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    return frames


@pytest.fixture(scope="module")
def unidentified(tmp_path_factory) -> tuple[list[dict], Path]:
    """The scene with ``faces.enabled: false`` (no identification at all)."""
    tmp = tmp_path_factory.mktemp("no_faces")
    cam = camera_yaml(tmp, faces={"enabled": False}, timezone="Europe/Berlin")
    out = tmp / "out"
    rc = main(["edge", "process", str(SCENE / "video.mp4"), "--camera", str(cam),
               "--out", str(out), "--json"])  # fmt: skip
    assert rc == 0
    lines = (out / "violations.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines], out


def face_ratios(shot: np.ndarray, raw: np.ndarray, detector: YuNetDetector) -> list[float]:
    """Laplacian energy of each face region (faces found on the RAW frame) in the
    evidence image relative to the raw frame: ~1 unchanged, ~0 smeared."""
    out = []
    for xywh in detector.detect(raw, 0.7).xywh:
        r = np.array(face_region(xywh, raw.shape))
        out.append(laplacian_energy(shot, r) / laplacian_energy(raw, r))
    return out


def test_faces_disabled_still_blurs_every_face_in_every_still(
    unidentified, raw_frames, detector
) -> None:
    violations, out = unidentified
    assert sorted(v["frame"] for v in violations) == [62, 123]  # the rule is unchanged
    checked = 0
    for v in violations:
        assert v["match"] is None
        stills = [f for f in v["evidence_files"] if f.endswith(".jpg")]
        assert len(stills) == 3
        for name, e in zip(stills, v["evidence"], strict=True):
            shot = cv2.imread(str(out / name))
            raw = raw_frames[e["frame"]]
            ratios = face_ratios(shot, raw, detector)
            assert ratios, f"{name}: the raw frame shows no face to check"
            assert max(ratios) < 0.1, f"{name}: a face is not blurred ({ratios})"
            assert e["blurred_faces"] >= len(ratios)
            checked += len(ratios)
    assert checked >= 8  # A and bystander B on A's stills, B on his own


def test_faces_disabled_still_blurs_every_face_in_the_clip(
    unidentified, raw_frames, detector
) -> None:
    violations, out = unidentified
    for v in violations:
        (clip,) = [f for f in v["evidence_files"] if f.endswith(".webm")]
        container = av.open(str(out / clip))
        assert container.streams.video[0].codec_context.name == "vp8"
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
        # 2 s before to 2 s after the entry at 10 frames/s: 41 frames, one per source frame
        assert len(frames) == v["clip"]["frames"] == 41
        first = v["frame"] - 20
        sign = np.array([30, 50, 70, 130])  # the signal head: sharp, not a face
        for k in range(0, len(frames), 2):
            raw = raw_frames[first + k]
            ratios = face_ratios(frames[k], raw, detector)
            assert ratios and max(ratios) < 0.1, f"clip frame {k}: face not blurred ({ratios})"
            # ... while the rest of the picture keeps its detail (not one big smear)
            assert laplacian_energy(frames[k], sign) / laplacian_energy(raw, sign) > 0.5


def test_each_still_carries_its_own_frames_box(unidentified) -> None:
    violations, _ = unidentified
    for v in violations:
        walker = WALKER_AT[v["frame"]]
        for e in v["evidence"]:
            true = face_scene_true_box(walker, e["frame"])
            assert true is not None and e["box"] is not None
            assert iou(e["box"], true) > 0.75, (e["role"], e["box"], true)
        after = next(e for e in v["evidence"] if e["role"] == "after")
        # The bug this replaces: the entry box drawn on "after" frames empty road.
        assert iou(v["bbox"], face_scene_true_box(walker, after["frame"])) < 0.3


def test_data_bar_is_burned_in_below_the_scene(unidentified, raw_frames) -> None:
    violations, out = unidentified
    v = violations[0]
    name = next(f for f in v["evidence_files"] if f.endswith("_after.jpg"))
    shot = cv2.imread(str(out / name))
    h, w = raw_frames[0].shape[:2]
    assert shot.shape[1] == w and shot.shape[0] > h + 30  # the scene keeps its pixels
    bar = shot[h:]
    text = (bar.max(axis=2) > 200).mean()  # light text on a dark bar
    assert 0.005 < text < 0.3 and np.median(bar) < 60


def test_wire_event_has_per_still_truth_local_time_and_signed_clip(tmp_path: Path) -> None:
    """The renderer's output through ``to_wire``: typed truth per still, local time in
    the camera's zone, the clip's hash over its bytes."""
    import base64
    import hashlib

    cfg = load_camera_config(camera_yaml(tmp_path, faces={"enabled": False},
                                         timezone="America/New_York"))  # fmt: skip
    pipe = build_pipeline(cfg, None)
    start = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # summer: New York is UTC-4
    renderer = EvidenceRenderer(cfg)
    found = []
    for frame in VideoFileSource(SCENE / "video.mp4", cfg.fps):
        found += pipe.process(frame)
        if found:
            break
    v = renderer.render(found[0], wall_clock(start))
    ev = v.to_wire("gw-1", start + timedelta(seconds=v.entry.t), [(0, 0), (1, 0), (1, 1)],
                   0.5, site_tz=cfg.timezone, place=cfg.place)  # fmt: skip
    assert ev.schema_version == 2 and ev.site_tz == "America/New_York"
    after = next(i for i in ev.evidence if i.role == "after")
    assert after.truth is not None
    assert after.truth.utc == start + timedelta(seconds=after.t)
    assert after.truth.local.utcoffset() == timedelta(hours=-4)
    assert after.truth.phase == "red" and after.truth.red_for_s == pytest.approx(
        after.t - 2.0, abs=0.35
    )
    jpeg = cv2.imdecode(np.frombuffer(base64.b64decode(after.jpeg_b64), np.uint8), 1)
    assert jpeg.shape[0] == after.truth.height + after.truth.bar_px
    clip = base64.b64decode(ev.clip.webm_b64)
    assert hashlib.sha256(clip).hexdigest() == ev.clip.sha256 and len(clip) == ev.clip.size
    assert ev.clip.frame_first == ev.frame - 20 and ev.clip.frame_last == ev.frame + 20


class _BrokenFaceStage:
    """A face stage that fails on every call (the one fault faked here: a broken model)."""

    def observe(self, *a: object) -> None:
        raise RuntimeError("face model crashed")

    def ready(self, *a: object) -> bool:
        raise RuntimeError("face model crashed")

    def decide(self, *a: object) -> object:
        raise RuntimeError("face model crashed")


def test_a_failing_face_stage_leaves_the_violation_unidentified_and_blurred(
    tmp_path: Path, raw_frames, detector
) -> None:
    cfg = load_camera_config(camera_yaml(tmp_path, evidence={"clip": False}))
    pipe = build_pipeline(cfg, _BrokenFaceStage())  # type: ignore[arg-type]
    found = []
    for frame in VideoFileSource(SCENE / "video.mp4", cfg.fps):
        found += pipe.process(frame)
    found += pipe.flush()
    assert sorted(v.entry.frame for v in found) == [62, 123]
    renderer = EvidenceRenderer(cfg)
    for v in found:
        assert v.match is None
        r = renderer.render(v, wall_clock(datetime.now(UTC)))
        for s in r.evidence:
            shot = cv2.imdecode(np.frombuffer(s.jpeg, np.uint8), cv2.IMREAD_COLOR)
            ratios = face_ratios(shot, raw_frames[s.frame], detector)
            assert ratios and max(ratios) < 0.1


def test_when_face_detection_itself_fails_the_whole_still_is_smeared(
    tmp_path: Path, raw_frames, detector
) -> None:
    class Broken(YuNetDetector):
        def detect_tiled(self, *a: object, **k: object):  # type: ignore[override]
            raise RuntimeError("onnxruntime: bad alloc")

    cfg = load_camera_config(camera_yaml(tmp_path, faces={"enabled": False},
                                         evidence={"clip": False, "data_bar": False}))  # fmt: skip
    pipe = build_pipeline(cfg, None)
    found = []
    for frame in VideoFileSource(SCENE / "video.mp4", cfg.fps):
        found += pipe.process(frame)
        if found:
            break
    renderer = EvidenceRenderer(cfg, FaceBlurrer(Broken(), 0.5))
    r = renderer.render(found[0], wall_clock(datetime.now(UTC)))
    assert len(r.evidence) == 3
    for s in r.evidence:
        shot = cv2.imdecode(np.frombuffer(s.jpeg, np.uint8), cv2.IMREAD_COLOR)
        ratios = face_ratios(shot, raw_frames[s.frame], detector)
        assert ratios and max(ratios) < 0.1


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area > 0 else 0.0
