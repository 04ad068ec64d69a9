"""Turn one raw MQTT message into an accepted event/status or a rejection with a reason.

Pure (no DB writes): everything a hostile or broken sender can put on the wire is
checked here, so the storage step only ever sees well-formed, signed messages. Total over
any bytes: the only exception that leaves ``classify`` is ``KeyLoadError`` (the database
holding the device keys is unavailable, an outage, not the message's fault); every
reason is printable text (``wire.printable``), safe to store and to send back in an ack.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from PIL import Image

from jaywatch import wire

JPEG_MAGIC = b"\xff\xd8\xff"
WEBM_MAGIC = b"\x1a\x45\xdf\xa3"  # EBML header (Matroska / WebM)


@dataclass
class Incoming:
    topic: str
    payload: bytes
    mid: int = 0
    generation: int = 0  # MQTT connection the message arrived on (acks only on the same one)
    # Set by the worker's supervisor: was in hand when the worker thread died (suspect);
    # was in hand, alone, when it died again (poison: dead-letter it with this reason).
    suspect: bool = False
    poison: str | None = None


@dataclass
class AcceptedEvent:
    msg: Incoming
    event: wire.ViolationEvent
    images: list[bytes]
    clip: bytes | None = None  # the WebM bytes, checked against the signed sha256 and size
    # Why the event is stored as 'quarantined' (for an admin, never reviewed or fined)
    # rather than queued: its ``occurred`` is outside the window around receipt.
    quarantine: str | None = None


@dataclass(frozen=True)
class OccurredWindow:
    """How far ``occurred`` may be from the time central receives the event (config
    ``ingest.occurred_ahead_s`` / ``ingest.occurred_behind_days``)."""

    ahead: timedelta = timedelta(minutes=10)
    behind: timedelta = timedelta(days=30)


@dataclass
class AcceptedStatus:
    msg: Incoming
    status: wire.DeviceStatus


@dataclass
class AcceptedSnapshot:
    """Signed, its JPEG's header checked (``snapshot_source``); the pixels are decoded
    only by ``reencoded``, when it is to be stored — a snapshot refused for coming too
    soon or for a camera past the cap (central/ingest/store.py) is never decoded."""

    msg: Incoming
    snapshot: wire.CameraSnapshot
    source: bytes  # the JPEG as sent (base64 decoded)

    def reencoded(self) -> bytes:
        """Central's own re-encoding: decoded within limits, metadata dropped (ValueError
        naming the field if the pixels cannot be read)."""
        return _reencode(self.source, self.snapshot)


@dataclass
class ThrottledSnapshot:
    """A signed snapshot that came sooner than ``ingest.snapshot_min_interval_s`` after the
    camera's last one: dropped undecoded, only counted for its device."""

    msg: Incoming
    device_id: str
    camera_id: str


@dataclass
class Rejected:
    msg: Incoming
    reason: str
    device_id: str | None = None  # set when the topic names a registered device
    event_id: str | None = None  # set when the payload carries one (for a 'rejected' ack)


Classified = AcceptedEvent | AcceptedStatus | AcceptedSnapshot | ThrottledSnapshot | Rejected


class KeyLoadError(Exception):
    """The device keys could not be read (database unavailable): retry, never reject."""


@dataclass
class KeyCache:
    """Device id → Ed25519 public key, reloaded when an unknown id shows up (at most
    once per ``min_reload_s``, so a flood from unknown devices cannot hammer the DB)."""

    loader: Callable[[], dict[str, bytes]]
    min_reload_s: float = 1.0
    keys: dict[str, bytes] = field(default_factory=dict)
    _loaded_at: float = -1e9
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, device_id: str) -> bytes | None:
        key = self.keys.get(device_id)
        if key is None and time.monotonic() - self._loaded_at >= self.min_reload_s:
            with self._lock:
                try:
                    self.keys = self.loader()
                except Exception as e:
                    raise KeyLoadError(f"{type(e).__name__}: {e}") from e
                self._loaded_at = time.monotonic()
            key = self.keys.get(device_id)
        return key


def _topic_parts(topic: str) -> tuple[str, str] | None:
    parts = topic.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != wire.TOPIC_ROOT:
        return None
    return parts[2], parts[3]


_UUID = re.compile(wire.UUID_PATTERN)


def ack_id(payload: bytes) -> str:
    """What a rejection ack names: the payload's ``event_id`` when it is a valid UUID (the
    edge can then find the event in its outbox), else the sha256 of the payload. Total:
    whatever the bytes are, the result is a valid ``wire.Ack.event_id``."""
    try:
        data = json.loads(payload)
        eid = data.get("event_id") if isinstance(data, dict) else None
    except (ValueError, RecursionError):  # not UTF-8 / not JSON / digits beyond the limit
        eid = None
    if isinstance(eid, str) and _UUID.fullmatch(eid):
        return eid
    return hashlib.sha256(payload).hexdigest()


def _decode_image(b64: str, i: int) -> tuple[bytes, tuple[int, int]]:
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"evidence[{i}].jpeg_b64: not valid base64") from None
    # Canonical base64 only: the stored bytes must re-encode to exactly what was signed.
    if base64.b64encode(data).decode() != b64:
        raise ValueError(f"evidence[{i}].jpeg_b64: not canonical base64")
    if not data.startswith(JPEG_MAGIC):
        raise ValueError(f"evidence[{i}].jpeg_b64: not a JPEG image")
    try:  # the header only (lazy): the size the boxes are checked against
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as img:
            size = img.size
    except Exception as e:  # PIL raises many kinds (incl. DecompressionBombError)
        raise ValueError(
            f"evidence[{i}].jpeg_b64: not a readable JPEG ({type(e).__name__})"
        ) from None
    if not (0 < size[0] <= wire.MAX_PIXELS and 0 < size[1] <= wire.MAX_PIXELS):
        raise ValueError(f"evidence[{i}].jpeg_b64: implausible image size {size[0]}x{size[1]}")
    return data, size


def _decode_clip(clip: wire.EvidenceClip) -> bytes:
    if clip.webm_b64 is None:
        raise ValueError("clip.webm_b64: missing (the clip's bytes must travel in the event)")
    try:
        data = base64.b64decode(clip.webm_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("clip.webm_b64: not valid base64") from None
    if base64.b64encode(data).decode() != clip.webm_b64:
        raise ValueError("clip.webm_b64: not canonical base64")
    if not data.startswith(WEBM_MAGIC):
        raise ValueError("clip.webm_b64: not a WebM file")
    if len(data) != clip.size:
        raise ValueError(f"clip.size: {clip.size} but the clip has {len(data)} bytes")
    if hashlib.sha256(data).hexdigest() != clip.sha256:
        raise ValueError("clip.sha256: does not match the clip's bytes")
    return data


class _SnapshotRefused(ValueError):
    pass


SNAPSHOT_QUALITY = 80


def reencode_snapshot(m: wire.CameraSnapshot) -> bytes:
    """The snapshot's JPEG decoded and encoded again by central (Raises ValueError naming
    the field). Its header is read first and must declare exactly the signed ``width`` x
    ``height`` (both capped by the wire model at 320 x 640), so no decompression bomb is
    ever decoded; whatever the gateway put besides the pixels (EXIF, comments, ICC, data
    after the end marker) is not copied."""
    return _reencode(snapshot_source(m), m)


def snapshot_source(m: wire.CameraSnapshot) -> bytes:
    """The JPEG's bytes if its base64, size, magic and header (exactly the signed ``width``
    x ``height``) are right: the cheap checks, no pixel decoded (ValueError naming the
    field)."""
    try:
        data = base64.b64decode(m.jpeg_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("jpeg_b64: not valid base64") from None
    if len(data) > wire.SNAPSHOT_MAX_BYTES:
        raise ValueError(f"jpeg_b64: {len(data)} bytes > limit {wire.SNAPSHOT_MAX_BYTES}")
    if not data.startswith(JPEG_MAGIC):
        raise ValueError("jpeg_b64: not a JPEG image")
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as img:  # the header only
            size = img.size
    except Exception as e:  # PIL raises many kinds (corrupt header, bomb)
        raise ValueError(f"jpeg_b64: not a readable JPEG ({type(e).__name__})") from None
    if size != (m.width, m.height):
        w, h = size
        raise ValueError(f"width, height: {m.width}x{m.height} declared, the JPEG is {w}x{h}")
    return data


def _reencode(data: bytes, m: wire.CameraSnapshot) -> bytes:
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as img:
            if img.size != (m.width, m.height):  # snapshot_source checked it; never decode more
                raise _SnapshotRefused(f"width, height: {m.width}x{m.height} declared")
            img.load()  # bounded: at most 320 x 640 pixels
            rgb = img.convert("RGB")
        # Pixels only, into a new image: a converted copy keeps ``info`` (its comment, EXIF,
        # ICC profile), which ``save`` would write again.
        clean = Image.frombytes("RGB", rgb.size, rgb.tobytes())
        out = io.BytesIO()
        clean.save(out, "JPEG", quality=SNAPSHOT_QUALITY)
    except _SnapshotRefused:
        raise
    except Exception as e:  # PIL raises many kinds (truncated, corrupt, bomb)
        raise ValueError(f"jpeg_b64: not a readable JPEG ({type(e).__name__})") from None
    return out.getvalue()


def _check_boxes(ev: wire.ViolationEvent, sizes: list[tuple[int, int]]) -> None:
    """The entry box must lie inside the entry frame (any full frame if there is no entry
    image: before/entry/after are frames of the same camera; a face image is a crop)."""
    frames = [(img.role, size) for img, size in zip(ev.evidence, sizes, strict=True)]
    full = [size for role, size in frames if role == "entry"] or [
        size for role, size in frames if role != "face"
    ]
    if full:
        w, h = full[0]
        wire.check_box_inside("bbox", ev.bbox, w, h)


def _quarantine(occurred: datetime, now: datetime, window: OccurredWindow) -> str | None:
    if occurred > now + window.ahead:
        return "occurred_ahead"
    if occurred < now - window.behind:
        return "occurred_behind"
    return None


def classify(
    msg: Incoming,
    keys: KeyCache,
    max_payload_bytes: int,
    window: OccurredWindow | None = None,
    now: datetime | None = None,
    snapshot_gate: Callable[[str, str], bool] | None = None,
) -> Classified:
    """``now``: the receive time (default: the clock) that ``occurred`` is judged against.
    ``snapshot_gate(device, camera)``: False when that camera's snapshot comes too soon
    (asked only for a snapshot whose signature verified, before its JPEG is decoded)."""
    parts = _topic_parts(msg.topic)
    if parts is None:
        topic = wire.printable(repr(msg.topic), 200)
        return Rejected(msg, f"topic {topic}: not a jaywatch/v1/<device>/<kind> topic")
    topic_device, topic_kind = parts
    key = keys.get(topic_device)
    known = topic_device if key is not None else None

    def reject(reason: str) -> Rejected:
        # A rejection ack only for a violation from a registered device (the ACL lets only
        # that device read its ack topic); status messages are not acknowledged to edges.
        acked = known is not None and topic_kind == "violation"
        if not acked:
            return Rejected(msg, wire.printable(reason), known, None)
        big = len(msg.payload) > max_payload_bytes  # never parsed, not even for its id
        eid = hashlib.sha256(msg.payload).hexdigest() if big else ack_id(msg.payload)
        return Rejected(msg, wire.printable(reason), known, eid)

    if len(msg.payload) > max_payload_bytes:
        return reject(f"payload: {len(msg.payload)} bytes > limit {max_payload_bytes}")
    try:
        m = wire.parse_message(msg.payload)
    except ValueError as e:
        return reject(f"invalid: {e}")
    if m.kind != topic_kind:  # type: ignore[attr-defined]
        return reject(f"kind: {m.kind!r} sent on a {topic_kind!r} topic")  # type: ignore[attr-defined]
    if m.device_id != topic_device:
        return reject(f"device_id: {m.device_id!r} does not match topic device {topic_device!r}")
    if key is None:
        return Rejected(msg, wire.printable(f"device {topic_device!r}: not registered"))
    if isinstance(m, wire.DeviceStatus):
        # Heartbeats are health data, not evidence: unsigned ones are accepted (a last
        # will is composed at connect time), but a present signature must be valid.
        if m.signature and not wire.verify_message(m, key):
            return reject("signature: does not verify with the device key")
        return AcceptedStatus(msg, m)
    if isinstance(m, wire.CameraSnapshot):
        # A picture of the street: signed always (the gateway signs every one).
        if not m.signature:
            return reject("signature: missing")
        if not wire.verify_message(m, key):
            return reject("signature: does not verify with the device key")
        if snapshot_gate is not None and not snapshot_gate(m.device_id, m.camera_id):
            return ThrottledSnapshot(msg, m.device_id, m.camera_id)
        try:
            return AcceptedSnapshot(msg, m, snapshot_source(m))
        except ValueError as e:
            return reject(str(e))
    if not isinstance(m, wire.ViolationEvent):
        return reject(f"kind: {m.kind!r} is not accepted by central")  # type: ignore[attr-defined]
    if not m.signature:
        return reject("signature: missing")
    if not wire.verify_message(m, key):
        return reject("signature: does not verify with the device key")
    try:
        decoded = [_decode_image(img.jpeg_b64, i) for i, img in enumerate(m.evidence)]
        _check_boxes(m, [size for _data, size in decoded])
        clip = _decode_clip(m.clip) if m.clip is not None else None
    except ValueError as e:
        return reject(str(e))
    window = window or OccurredWindow()
    quarantine = _quarantine(m.occurred, now or wire.utcnow(), window)
    images = [data for data, _size in decoded]
    return AcceptedEvent(msg, m, images, clip=clip, quarantine=quarantine)


@dataclass
class SnapshotGate:
    """Per-camera minimum interval between snapshots, in this worker's memory: lets one
    through per ``interval_s`` per (device, camera), so a flood is dropped before its JPEG
    is decoded. Central's database check (central/ingest/store.py ``store_snapshot``) is
    the one that holds across workers; this one only saves the work. Bounded: the
    longest-unseen cameras are forgotten beyond ``max_cameras``."""

    interval_s: float
    max_cameras: int = 20_000
    clock: Callable[[], float] = time.monotonic
    _last: dict[tuple[str, str], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, device_id: str, camera_id: str) -> bool:
        if self.interval_s <= 0:
            return True
        now, k = self.clock(), (device_id, camera_id)
        with self._lock:
            last = self._last.get(k)
            if last is not None and now - last < self.interval_s:
                return False
            self._last.pop(k, None)
            self._last[k] = now  # dicts keep insertion order: oldest first
            while len(self._last) > self.max_cameras:
                del self._last[next(iter(self._last))]
        return True
