"""Camera snapshots (edge/snapshot.py): real frames with real people, the shipped SSD and
YuNet. Every annotated person (sample_media/photos/people.json, by eye, not by a
detector; the ``hard`` ones too) must be smeared in the thumbnail: the detail left in
their box (Laplacian variance) is compared with the same box of the plainly shrunk frame.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import DetectorConfig
from edge.detectors import Detections, create_detector
from edge.faces.detect import YuNetDetector
from edge.gateway_config import HealthConfig
from edge.snapshot import LatestFrame, SnapshotMaker, SnapshotReporter, tiles
from jaywatch import wire

PHOTOS = Path(__file__).resolve().parents[2] / "sample_media" / "photos"
PEOPLE = json.loads((PHOTOS / "people.json").read_text(encoding="utf-8"))["images"]


@cache
def maker() -> SnapshotMaker:
    return SnapshotMaker(create_detector(DetectorConfig()).detect, YuNetDetector())


def _detail(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x1, y1, x2, y2 = box
    grey = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def _thumb_box(xyxy: list[float], scale: float, shape: tuple[int, ...]) -> tuple[int, ...]:
    # The person's inner part (the annotation's edge pixels may lie on the background).
    x1, y1, x2, y2 = (v * scale for v in xyxy)
    dx, dy = 0.15 * (x2 - x1), 0.1 * (y2 - y1)
    return (
        max(0, int(x1 + dx)), max(0, int(y1 + dy)),
        min(shape[1], int(x2 - dx)), min(shape[0], int(y2 - dy)),
    )  # fmt: skip


@pytest.mark.parametrize("name", ["vtest_0000.jpg", "vtest_0400.jpg", "vtest_0500.jpg"])
def test_every_person_is_blurred_in_the_thumbnail(name: str) -> None:
    frame = cv2.imread(str(PHOTOS / name))
    snap = maker().make("cam-1", frame, datetime.now(UTC))
    assert snap.width <= wire.SNAPSHOT_MAX_WIDTH and len(snap.jpeg) <= wire.SNAPSHOT_MAX_BYTES
    thumb = cv2.imdecode(np.frombuffer(snap.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert thumb.shape[:2] == (snap.height, snap.width)
    scale = snap.width / frame.shape[1]
    plain = cv2.resize(frame, (snap.width, snap.height), interpolation=cv2.INTER_AREA)
    assert snap.blurred_people >= len([p for p in PEOPLE[name] if not p.get("hard")])
    for p in PEOPLE[name]:
        box = _thumb_box(p["xyxy"], scale, thumb.shape)
        before, after = _detail(plain, box), _detail(thumb, box)
        assert after < 0.25 * before, (name, p.get("note"), before, after)
    # The street itself stays readable: a frame blurred all over is no snapshot.
    assert _detail(thumb, (0, 0, snap.width, snap.height)) > 0.3 * _detail(
        plain, (0, 0, snap.width, snap.height)
    )


def test_faces_are_blurred_even_where_no_person_box_is() -> None:
    """A portrait the person detector is not needed for: YuNet's face is smeared."""
    image = cv2.imread(str(PHOTOS / "obama.jpg"))
    m = SnapshotMaker(lambda _img: Detections.empty(), YuNetDetector())
    out, people, faces = m.anonymise(image)
    assert people == 0 and faces >= 1
    x, y, w, h = (int(v) for v in YuNetDetector().detect_tiled(image, 0.5).xywh[0])
    box = (x, y, x + w, y + h)
    assert _detail(out, box) < 0.1 * _detail(image, box)


def test_a_failing_detector_sends_nothing(caplog: pytest.LogCaptureFixture) -> None:
    frame = cv2.imread(str(PHOTOS / "vtest_0400.jpg"))

    def broken(_img: np.ndarray) -> Detections:
        raise RuntimeError("onnxruntime fell over")

    sent: list[wire.CameraSnapshot] = []
    cams = [("cam-1", SnapshotMaker(broken, YuNetDetector()),
             lambda: LatestFrame(frame, datetime.now(UTC), (), 1))]  # fmt: skip
    r = SnapshotReporter("gw-1", lambda: cams, lambda m: sent.append(m) or True)
    assert r.run_once() == [] and sent == [] and r.skipped == 1
    # a model failing on some content is one line naming the error, not a traceback
    (rec,) = [r for r in caplog.records if "snapshot not anonymised" in r.getMessage()]
    assert "RuntimeError: onnxruntime fell over" in rec.getMessage() and rec.exc_info is None


def test_reporter_sends_signed_round_trip_once_per_frame_and_never_stale() -> None:
    frame = cv2.imread(str(PHOTOS / "vtest_0400.jpg"))
    key = wire.generate_device_key()
    now = datetime.now(UTC)
    latest = {"cam-1": LatestFrame(frame, now, ((10.0, 10.0, 60.0, 150.0),), "f1"),
              "cam-2": LatestFrame(frame, now - timedelta(minutes=5), (), "f9")}  # fmt: skip
    payloads: list[bytes] = []

    def publish(m: wire.CameraSnapshot) -> bool:
        payloads.append(wire.sign_message(m, key).model_dump_json().encode())
        return True

    cams = [(c, maker(), lambda c=c: latest[c]) for c in latest]
    r = SnapshotReporter("gw-1", lambda: cams, publish)
    assert [m.camera_id for m in r.run_once(now)] == ["cam-1"]  # cam-2's frame is stale
    assert r.run_once(now) == []  # the same frame again: not resent
    parsed = wire.parse_message(payloads[0])
    assert isinstance(parsed, wire.CameraSnapshot)
    assert wire.verify_message(parsed, wire.public_key_bytes(key))
    assert base64.b64decode(parsed.jpeg_b64).startswith(b"\xff\xd8\xff")
    tampered = parsed.model_copy(update={"blurred_people": 0})
    assert not wire.verify_message(tampered, wire.public_key_bytes(key))


def test_tiles_cover_the_frame() -> None:
    h, w = 576, 768
    covered = np.zeros((h, w), bool)
    for x, y, tw, th in tiles(h, w):
        covered[y : y + th, x : x + tw] = True
    assert covered.all()


@pytest.mark.parametrize(("value", "ok"), [(0, True), (60, True), (5, True), (1, False),
                                           (-1, False), (1e9, False)])  # fmt: skip
def test_snapshot_interval_is_validated(value: float, ok: bool) -> None:
    if ok:
        assert HealthConfig(snapshot_interval_s=value).snapshot_interval_s == value
    else:
        with pytest.raises(ValueError, match="snapshot_interval_s"):
            HealthConfig(snapshot_interval_s=value)
