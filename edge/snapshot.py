"""Camera snapshots for the devices page: a small thumbnail of a recent frame, with every
person and every face blurred before it leaves the gateway (issue 17).

A snapshot is not evidence and nobody in it is a violator, so nobody in it may be
recognisable (DESIGN principle 2). It is made from the frame the camera analysed last,
off the frame loop, on the gateway's ``snapshots`` thread:

1. the person detector runs again on that very frame (the frame loop's boxes are only
   those of confirmed tracks, and nothing at all while the motion gate sleeps, so they
   are not trusted alone): once on the whole frame and once per overlapping tile, so a
   small far figure is found too; the frame loop's track boxes of that frame are added;
2. every person box is padded (``PERSON_PAD``) and pixelated-and-blurred, then every face
   the face detector finds (tiled, at a low score, padded ``FACE_PAD``) is blurred too;
3. the result is shrunk to at most ``wire.SNAPSHOT_MAX_WIDTH`` px wide and encoded as a
   small JPEG (no metadata: OpenCV writes none).

If the person or face detector fails, no snapshot is sent for that round: an image that
could not be anonymised never leaves. Shrinking to 320 px is itself part of the
protection (a figure the detector could not find is a few pixels tall there).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import cv2
import numpy as np

from edge.detectors.base import Detections
from edge.faces.anonymise import blur_region, face_region
from edge.faces.detect import YuNetDetector
from jaywatch import wire

log = logging.getLogger(__name__)

PERSON_PAD = (0.2, 0.1)  # of the box's width per side, of its height top and bottom
FACE_PAD = 0.5  # of the face's size per side (hair, ears, a face seen at an angle)
FACE_SCORE = 0.3  # lower than the evidence blur's: a missed face costs more than a smudge
JPEG_QUALITY = 70

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One anonymised thumbnail, ready to put on the wire."""

    camera_id: str
    taken: datetime
    jpeg: bytes
    width: int
    height: int
    blurred_people: int
    blurred_faces: int

    def to_wire(self, device_id: str) -> wire.CameraSnapshot:
        return wire.CameraSnapshot(
            device_id=device_id,
            camera_id=self.camera_id,
            taken=self.taken,
            width=self.width,
            height=self.height,
            jpeg_b64=base64.b64encode(self.jpeg).decode(),
            blurred_people=self.blurred_people,
            blurred_faces=self.blurred_faces,
        )


def tiles(h: int, w: int) -> list[tuple[int, int, int, int]]:
    """Overlapping square tiles (x, y, size, size) of side ~ the frame's shorter side / 2
    (a 300-px detector input then sees far people at twice the scale)."""
    side = max(64, min(h, w) // 2)
    step = max(32, (side * 3) // 4)  # 25 % overlap: a person cut by one tile is whole in the next
    out = []
    for y in range(0, max(1, h - side // 4), step):
        for x in range(0, max(1, w - side // 4), step):
            out.append((x, y, min(side, w - x), min(side, h - y)))
    return out


def find_people(detect: Callable[[np.ndarray], Detections], image: np.ndarray) -> list[Box]:
    """Person boxes in ``image``: the whole frame, then every tile (frame pixels)."""
    h, w = image.shape[:2]
    boxes: list[Box] = [tuple(map(float, b)) for b in detect(image).xyxy]  # type: ignore[misc]
    for x, y, tw, th in tiles(h, w):
        d = detect(np.ascontiguousarray(image[y : y + th, x : x + tw]))
        boxes += [(b[0] + x, b[1] + y, b[2] + x, b[3] + y) for b in d.xyxy.tolist()]
    return boxes


def person_region(box: Box, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Integer, padded, clipped ``x1, y1, x2, y2`` of a person box."""
    x1, y1, x2, y2 = box
    pw, ph = PERSON_PAD[0] * (x2 - x1), PERSON_PAD[1] * (y2 - y1)
    return (
        max(0, int(x1 - pw)),
        max(0, int(y1 - ph)),
        min(shape[1], int(np.ceil(x2 + pw))),
        min(shape[0], int(np.ceil(y2 + ph))),
    )


def distinct(boxes: Sequence[Box], iou: float = 0.4) -> int:
    """How many people ``boxes`` show: the whole-frame pass, the tiles and the tracker find
    the same person several times (all of their boxes are blurred; this is for the count)."""
    kept: list[Box] = []
    for b in sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
        if all(_iou(b, k) < iou for k in kept):
            kept.append(b)
    return len(kept)


def _iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class DetectorFailed(Exception):
    """The person or face detector raised on a snapshot's frame: a model that fails on
    some content (edge/detectors/failures.py), not a bug here, so one line, no traceback."""


class SnapshotMaker:
    """Turns one camera frame into an anonymised :class:`Snapshot`.

    ``detect`` is the camera's person model (thread-safe: the gateway's pooled detector);
    ``faces`` a face detector of the snapshot thread's own.
    """

    def __init__(
        self,
        detect: Callable[[np.ndarray], Detections],
        faces: YuNetDetector,
        max_width: int = wire.SNAPSHOT_MAX_WIDTH,
        quality: int = JPEG_QUALITY,
    ) -> None:
        self.detect = detect
        self.faces = faces
        self.max_width = max_width
        self.quality = quality

    def anonymise(
        self, image: np.ndarray, tracked: Sequence[Box] = ()
    ) -> tuple[np.ndarray, int, int]:
        """Copy of ``image`` with every person and face blurred; (image, people, faces).
        Raises :class:`DetectorFailed` if a detector raises: the caller then sends nothing."""
        try:
            people = find_people(self.detect, image) + [tuple(map(float, b)) for b in tracked]
            faces = self.faces.detect_tiled(image, FACE_SCORE)  # on the original pixels
        except Exception as e:
            raise DetectorFailed(f"{type(e).__name__}: {e}".splitlines()[0][:300]) from e
        out = image.copy()
        for b in people:
            blur_region(out, *person_region(b, out.shape))  # type: ignore[arg-type]
        for xywh in faces.xywh:
            blur_region(out, *face_region(xywh, out.shape, FACE_PAD))
        return out, distinct(people), len(faces)

    def make(
        self, camera_id: str, image: np.ndarray, taken: datetime, tracked: Sequence[Box] = ()
    ) -> Snapshot:
        out, n_people, n_faces = self.anonymise(image, tracked)
        h, w = out.shape[:2]
        if w > self.max_width:
            nh = max(1, round(h * self.max_width / w))
            out = cv2.resize(out, (self.max_width, nh), interpolation=cv2.INTER_AREA)
        if out.shape[0] > wire.SNAPSHOT_MAX_HEIGHT:  # a very tall frame: fit the height too
            nw = max(1, round(out.shape[1] * wire.SNAPSHOT_MAX_HEIGHT / out.shape[0]))
            out = cv2.resize(out, (nw, wire.SNAPSHOT_MAX_HEIGHT), interpolation=cv2.INTER_AREA)
        quality = self.quality
        while True:
            ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise ValueError("JPEG encoding failed")
            if len(buf) <= wire.SNAPSHOT_MAX_BYTES or quality <= 20:
                break
            quality -= 15  # a busy scene: smaller rather than refused by central
        return Snapshot(
            camera_id, taken.astimezone(UTC), buf.tobytes(), out.shape[1], out.shape[0],
            n_people, n_faces,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class LatestFrame:
    """What a camera worker offers for a snapshot: its last analysed frame, the track boxes
    on it and its wall-clock time."""

    image: np.ndarray
    taken: datetime
    tracked: tuple[Box, ...] = ()
    key: object = None  # identity of the frame (a repeat of the same frame is not resent)


class SnapshotReporter:
    """Every ``interval_s``, one snapshot per camera that has a fresh frame, published
    with ``publish`` (``MqttLink.publish_snapshot``). Its own thread: the frame loop never
    waits for it (it only reads a reference to the last frame)."""

    def __init__(
        self,
        device_id: str,
        cameras: Callable[[], list[tuple[str, SnapshotMaker, Callable[[], LatestFrame | None]]]],
        publish: Callable[[wire.CameraSnapshot], bool],
        interval_s: float = 60.0,
        max_age_s: float = 10.0,
    ) -> None:
        self.device_id = device_id
        self._cameras = cameras
        self._publish = publish
        self.interval_s = interval_s
        self.max_age_s = max_age_s
        self.sent = 0
        self.skipped = 0
        self._last: dict[str, object] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: datetime | None = None) -> list[wire.CameraSnapshot]:
        """One round over every camera; returns what was published."""
        now = now or datetime.now(UTC)
        out = []
        for camera_id, maker, latest in self._cameras():
            frame = latest()
            if frame is None or (now - frame.taken).total_seconds() > self.max_age_s:
                continue  # down or stalled: the page says so; an old picture would mislead
            if frame.key is not None and self._last.get(camera_id) == frame.key:
                continue
            try:
                snap = maker.make(camera_id, frame.image, frame.taken, frame.tracked)
            except DetectorFailed as e:  # once per round at most (interval_s >= 5 s)
                self.skipped += 1
                log.error(
                    "camera %s: snapshot not anonymised (detector failed: %s); none sent",
                    camera_id,
                    e,
                )
                continue
            except Exception:
                self.skipped += 1
                log.exception("camera %s: snapshot not anonymised; none sent", camera_id)
                continue
            msg = snap.to_wire(self.device_id)
            if self._publish(msg):
                self.sent += 1
                self._last[camera_id] = frame.key
                out.append(msg)
        return out

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="snapshots", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        # A first round soon after start (the page shows a picture within seconds of a
        # gateway coming up), then every interval.
        if self._stop.wait(min(5.0, self.interval_s)):
            return
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("snapshot round failed")
            self._stop.wait(self.interval_s)
