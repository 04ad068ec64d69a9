"""Turn one raw MQTT message into an accepted event/status or a rejection with a reason.

Pure (no DB writes): everything a hostile or broken sender can put on the wire is
checked here, so the storage step only ever sees well-formed, signed messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from jaywatch import wire

JPEG_MAGIC = b"\xff\xd8\xff"
WEBM_MAGIC = b"\x1a\x45\xdf\xa3"  # EBML header (Matroska / WebM)


@dataclass
class Incoming:
    topic: str
    payload: bytes
    mid: int = 0
    generation: int = 0  # MQTT connection the message arrived on (acks only on the same one)


@dataclass
class AcceptedEvent:
    msg: Incoming
    event: wire.ViolationEvent
    images: list[bytes]
    clip: bytes | None = None  # the WebM bytes, checked against the signed sha256 and size


@dataclass
class AcceptedStatus:
    msg: Incoming
    status: wire.DeviceStatus


@dataclass
class Rejected:
    msg: Incoming
    reason: str
    device_id: str | None = None  # set when the topic names a registered device
    event_id: str | None = None  # set when the payload carries one (for a 'rejected' ack)


Classified = AcceptedEvent | AcceptedStatus | Rejected


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
                self.keys = self.loader()
                self._loaded_at = time.monotonic()
            key = self.keys.get(device_id)
        return key


def _topic_parts(topic: str) -> tuple[str, str] | None:
    parts = topic.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != wire.TOPIC_ROOT:
        return None
    return parts[2], parts[3]


def _event_id_of(payload: bytes) -> str | None:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    eid = data.get("event_id") if isinstance(data, dict) else None
    return eid if isinstance(eid, str) and len(eid) == 36 else None


def _decode_image(b64: str, i: int) -> bytes:
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"evidence[{i}].jpeg_b64: not valid base64") from None
    # Canonical base64 only: the stored bytes must re-encode to exactly what was signed.
    if base64.b64encode(data).decode() != b64:
        raise ValueError(f"evidence[{i}].jpeg_b64: not canonical base64")
    if not data.startswith(JPEG_MAGIC):
        raise ValueError(f"evidence[{i}].jpeg_b64: not a JPEG image")
    return data


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


def classify(msg: Incoming, keys: KeyCache, max_payload_bytes: int) -> Classified:
    parts = _topic_parts(msg.topic)
    if parts is None:
        return Rejected(msg, f"topic {msg.topic!r}: not a jaywatch/v1/<device>/<kind> topic")
    topic_device, topic_kind = parts
    key = keys.get(topic_device)
    known = topic_device if key is not None else None

    def reject(reason: str) -> Rejected:
        return Rejected(msg, reason, known, _event_id_of(msg.payload) if known else None)

    if len(msg.payload) > max_payload_bytes:
        return Rejected(msg, f"payload: {len(msg.payload)} bytes > limit {max_payload_bytes}")
    try:
        m = wire.parse_message(msg.payload)
    except ValueError as e:
        return reject(f"invalid: {e}")
    except RecursionError:
        return reject("invalid: JSON nested too deeply")
    if m.kind != topic_kind:  # type: ignore[attr-defined]
        return reject(f"kind: {m.kind!r} sent on a {topic_kind!r} topic")  # type: ignore[attr-defined]
    if m.device_id != topic_device:
        return reject(f"device_id: {m.device_id!r} does not match topic device {topic_device!r}")
    if key is None:
        return Rejected(msg, f"device {topic_device!r}: not registered")
    if isinstance(m, wire.DeviceStatus):
        # Heartbeats are health data, not evidence: unsigned ones are accepted (a last
        # will is composed at connect time), but a present signature must be valid.
        if m.signature and not wire.verify_message(m, key):
            return reject("signature: does not verify with the device key")
        return AcceptedStatus(msg, m)
    if not isinstance(m, wire.ViolationEvent):
        return reject(f"kind: {m.kind!r} is not accepted by central")  # type: ignore[attr-defined]
    if not m.signature:
        return reject("signature: missing")
    if not wire.verify_message(m, key):
        return reject("signature: does not verify with the device key")
    try:
        images = [_decode_image(img.jpeg_b64, i) for i, img in enumerate(m.evidence)]
        clip = _decode_clip(m.clip) if m.clip is not None else None
    except ValueError as e:
        return reject(str(e))
    return AcceptedEvent(msg, m, images, clip)
