"""The wire contract between edge and central: topics, message schemas, signing.

This is the only module both roles import. Everything here is versioned by
``SCHEMA_VERSION``; a consumer rejects (dead-letters) what it cannot parse.

Signing: the device signs the canonical JSON of a message without its ``signature``
field (keys sorted, no whitespace, UTF-8) with its Ed25519 key. Evidence images travel
inside the signed body as base64 JPEG, so an edited image breaks the signature.

>>> key = generate_device_key()
>>> ack = Ack(device_id="gw-1", event_id=new_event_id(), status="stored")
>>> signed = sign_message(ack, key)
>>> verify_message(signed, public_key_bytes(key))
True
"""

from __future__ import annotations

import base64
import json
import math
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

SCHEMA_VERSION = 1
TOPIC_ROOT = "jaywatch/v1"
DeviceId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
MAX_EVIDENCE_IMAGES = 8
# The pedestrian signal phases (edge.signal.base.SignalState values).
SignalPhase = Literal["red", "green", "flashing_red", "flashing_green", "dark", "unknown"]
MAX_IMAGE_B64 = 2_000_000  # ~1.5 MB JPEG per image; bigger payloads are dead-lettered
# A violation's clip (4 s at the analysis rate): the edge's budget is 1 MB (bench/
# bench_evidence_clip.py measures it); the wire takes up to 4 MB so a busy scene is not lost.
MAX_CLIP_BYTES = 4_000_000
MAX_CLIP_B64 = 4 * ((MAX_CLIP_BYTES + 2) // 3)
MAX_CLIP_FRAMES = 1200  # 10 s + 10 s at 60 fps
# Schema 2 of a violation adds per-still truth (``EvidenceImage.truth``), the clip and the
# site's time zone. Schema 1 events (stored before) still parse: the new fields are optional.
VIOLATION_SCHEMA_VERSION = 2
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Pixel = Annotated[float, Field(ge=-100_000, le=100_000, allow_inf_nan=False)]
BoxXYXY = tuple[Pixel, Pixel, Pixel, Pixel]
PointXY = tuple[Pixel, Pixel]
TimeZoneName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+\-/]+$")]


# --- what an honest edge can send (central dead-letters the rest, naming the field) -------

# Canonical lowercase UUID text, as str(uuid.uuid4()) writes it: the id is a URL path
# segment, a database key and an MQTT ack payload, so nothing else may pass as one.
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
EventId = Annotated[str, Field(min_length=36, max_length=36, pattern=UUID_PATTERN)]

# C0/C1 control characters and lone surrogates (a str that is not valid UTF-8).
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_UNPRINTABLE_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _text_checker(pattern: re.Pattern[str]) -> Any:
    def check(v: object) -> object:
        if isinstance(v, str) and (m := pattern.search(v)) is not None:
            c = ord(m.group())
            what = (
                "a lone surrogate (not valid UTF-8)"
                if 0xD800 <= c <= 0xDFFF
                else "a control character"
            )
            raise ValueError(f"contains {what} U+{c:04X} at position {m.start()}")
        return v

    return BeforeValidator(check)


def Text(max_length: int, min_length: int = 0, multiline: bool = False) -> Any:
    """A string field: valid UTF-8, no control characters (``multiline`` allows tab, CR
    and LF: error texts), at most ``max_length`` characters."""
    checker = _text_checker(_UNPRINTABLE_MULTILINE if multiline else _UNPRINTABLE)
    return Annotated[str, checker, Field(min_length=min_length, max_length=max_length)]


def printable(text: str, limit: int = 2000) -> str:
    """``text`` made safe to store, log, render and send: control characters and lone
    surrogates become ``\\xNN``/``\\uXXXX`` escapes, then cut to ``limit`` characters.
    Total: never raises for any str, so a reason built from hostile input can always be
    dead-lettered and put into an ack."""
    out = _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    return out[:limit]


# Pixel coordinates (``Pixel``, above) and times: finite (``allow_inf_nan=False`` on every
# model) and within what any camera produces, so arithmetic on them can never overflow.
MAX_PIXELS = 100_000
Seconds = Annotated[float, Field(ge=0, le=10 * 365 * 86_400)]  # stream time: ≤ 10 years
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]  # fits every database's INTEGER
Similarity = Annotated[float, Field(ge=-1, le=1)]  # cosine


def _utc_representable(v: datetime) -> datetime:
    # A year-9999 time with a negative offset has no UTC equivalent: refuse it here rather
    # than overflow later in storage or arithmetic.
    try:
        v.astimezone(UTC)
    except OverflowError:
        raise ValueError("has no UTC equivalent (out of range)") from None
    return v


WireTime = Annotated[AwareDatetime, AfterValidator(_utc_representable)]


# --- topics -------------------------------------------------------------------------------


def violation_topic(device_id: str) -> str:
    """Edge → central, QoS 1. One topic per device so the broker ACL can pin it."""
    return f"{TOPIC_ROOT}/{device_id}/violation"


def ack_topic(device_id: str) -> str:
    """Central → edge: application-level ack after the DB commit."""
    return f"{TOPIC_ROOT}/{device_id}/ack"


def status_topic(device_id: str) -> str:
    """Retained heartbeat and last will of a device."""
    return f"{TOPIC_ROOT}/{device_id}/status"


def signal_phase_topic(site: str) -> str:
    """Signal bridge → gateways of ``site``: the controller's pedestrian phases
    (:class:`SignalPhaseMessage`, QoS 1, not retained). The broker ACL lets only the bridge
    user publish it (docs/signal-controller.md)."""
    return f"{TOPIC_ROOT}/signal/{site}/phase"


def snapshot_topic(device_id: str) -> str:
    """Edge → central, QoS 1, not retained: one camera's latest anonymised thumbnail
    (:class:`CameraSnapshot`). Per device, so the broker ACL pins it like ``status``."""
    return f"{TOPIC_ROOT}/{device_id}/snapshot"


GALLERY_TOPIC = f"{TOPIC_ROOT}/gallery"
VIOLATION_WILDCARD = f"{TOPIC_ROOT}/+/violation"
STATUS_WILDCARD = f"{TOPIC_ROOT}/+/status"
SNAPSHOT_WILDCARD = f"{TOPIC_ROOT}/+/snapshot"


def display_topic(screen_id: str) -> str:
    return f"{TOPIC_ROOT}/display/{screen_id}"


def shared_subscription(topic_filter: str, group: str = "central") -> str:
    """MQTT 5 shared subscription: any number of central workers split the stream."""
    return f"$share/{group}/{topic_filter}"


# --- messages -----------------------------------------------------------------------------


def new_event_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class Strict(BaseModel):
    """Unknown fields, NaN and ±Infinity are refused everywhere on the wire.

    Fields added after a message kind first shipped are listed in ``LATER_FIELDS`` and
    left out of every dump while they hold their default: a gateway still running the
    older contract signed a body without them, and central must reproduce exactly those
    bytes to check its signature (``canonical_bytes``). A newer gateway sends and signs
    them only when it has something to say.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    LATER_FIELDS: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_later_defaults(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if not self.LATER_FIELDS or not isinstance(data, dict):
            return data
        fields = type(self).model_fields
        for name in self.LATER_FIELDS:
            if name in data and data[name] == fields[name].get_default(call_default_factory=True):
                del data[name]
        return data


class WireModel(Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    device_id: DeviceId
    created: WireTime = Field(default_factory=utcnow)
    # base64 Ed25519 over canonical_bytes() (88 characters; a little room, no more)
    signature: Annotated[str, Field(max_length=128, pattern=r"^[A-Za-z0-9+/=]*$")] | None = None


class SignalEvidence(Strict):
    phase: Literal["red", "green", "flashing_red", "flashing_green", "dark", "unknown"]
    red_for_s: Annotated[float, Field(ge=0, le=86_400)]
    source: Literal["roi", "controller"] = "roi"
    roi: tuple[Count, Count, Count, Count] | None = None  # x, y, w, h pixels


class FrameTruth(Strict):
    """What one evidence still shows, for its overlay and the record (schema 2).

    Coordinates are pixels of the camera frame (``width`` x ``height``); the JPEG is
    ``bar_px`` taller because the data bar is burned in below the scene.
    """

    box: BoxXYXY | None  # the violator's box on THIS frame; None: not detected on it
    foot: PointXY | None  # bottom-centre of ``box`` (what the rule tests against the zone)
    utc: datetime  # wall-clock time of this frame
    local: datetime  # the same instant in the site's zone, with its UTC offset
    tz: TimeZoneName  # IANA zone of the site, e.g. Europe/Berlin
    phase: SignalPhase  # signal phase read on this frame
    red_for_s: Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False)] | None = None
    width: Annotated[int, Field(ge=1, le=16_384)]
    height: Annotated[int, Field(ge=1, le=16_384)]
    bar_px: Annotated[int, Field(ge=0, le=1_000)] = 0


class EvidenceImage(Strict):
    LATER_FIELDS = frozenset({"truth"})  # schema 2
    role: Literal["before", "entry", "after", "face"]
    frame: Count
    t: Seconds
    jpeg_b64: Annotated[str, Field(max_length=MAX_IMAGE_B64)]
    # Which faces were blurred in this image: every bystander always; the violator unless matched.
    blurred_faces: Annotated[int, Field(ge=0, le=10_000)] = 0
    truth: FrameTruth | None = None  # schema 2; None for the face crop and schema 1 events


class EvidenceClip(Strict):
    """The violation as video: ``before_s`` before the entry to ``after_s`` after it, at
    the analysis rate, faces blurred by the same rule as the stills (schema 2).

    ``sha256`` is of the WebM bytes; it is signed with the rest of the event, and the bytes
    travel in ``webm_b64`` (so the same end-to-end ack covers them). Central stores the
    bytes in its evidence store and keeps the event with ``webm_b64`` set to None.
    """

    mime: Literal["video/webm"] = "video/webm"
    codec: Literal["vp8", "vp9"] = "vp8"
    sha256: Sha256Hex
    size: Annotated[int, Field(ge=1, le=MAX_CLIP_BYTES)]
    webm_b64: Annotated[str, Field(max_length=MAX_CLIP_B64)] | None
    fps: Annotated[float, Field(gt=0, le=120, allow_inf_nan=False)]
    frames: Annotated[int, Field(ge=1, le=MAX_CLIP_FRAMES)]
    frame_first: Annotated[int, Field(ge=0)]  # source frame numbers of the first/last frame
    frame_last: Annotated[int, Field(ge=0)]
    t_first: Annotated[float, Field(ge=0, allow_inf_nan=False)]  # s from stream start
    t_last: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    utc_first: datetime  # wall-clock time of the first frame
    width: Annotated[int, Field(ge=1, le=16_384)]
    height: Annotated[int, Field(ge=1, le=16_384)]
    # Faces blurred over all frames (a face on 40 frames counts 40 times).
    blurred_faces: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _ordered(self) -> EvidenceClip:
        if self.frame_last < self.frame_first or self.t_last < self.t_first:
            raise ValueError("clip: frame_last/t_last must not precede frame_first/t_first")
        return self


# Runner-up persons a gateway may report with a match (``MatchResult.alternatives``).
MAX_MATCH_ALTERNATIVES = 10


class MatchAlternative(Strict):
    """A person the matcher ranked below the best one, with its fused score."""

    person_id: Text(128, min_length=1)
    score: Similarity


class MatchResult(Strict):
    """The gateway's best match for a flagged violator.

    ``alternatives`` (issue 17, a later field): the next persons the matcher ranked, best
    first, whether or not they reached the threshold (the runner-up's score is what tells a
    reviewer the match was close). Sent only with a match, never for an unidentified
    violation; inside the signed body, so they cannot be changed in transit. Omitted while
    empty, so a gateway with ``faces.alternatives: 0`` signs the same bytes as before; an
    older central refuses a non-empty list (``extra="forbid"``): upgrade central first.
    """

    LATER_FIELDS = frozenset({"alternatives"})
    person_id: Text(128, min_length=1)
    score: Similarity
    backend: Text(64) = ""
    threshold: Similarity | None = None
    gallery_version: Text(128) = ""
    alternatives: Annotated[list[MatchAlternative], Field(max_length=MAX_MATCH_ALTERNATIVES)] = []

    @model_validator(mode="after")
    def _alternatives_consistent(self) -> MatchResult:
        # What an honest matcher produces: distinct other persons, ranked, none better
        # than the match itself. Anything else is a broken or hostile sender.
        seen = {self.person_id}
        previous = self.score
        for i, a in enumerate(self.alternatives):
            if a.person_id in seen:
                what = "the matched person" if a.person_id == self.person_id else "a duplicate"
                raise ValueError(f"alternatives[{i}].person_id: {what} ({a.person_id!r})")
            seen.add(a.person_id)
            if a.score > previous:
                raise ValueError(
                    f"alternatives[{i}].score: {a.score} ranks above "
                    + ("the match" if i == 0 else f"alternatives[{i - 1}]")
                    + f" ({previous}); expected best first, none above the match"
                )
            previous = a.score
        return self


class ViolationEvent(WireModel):
    LATER_FIELDS = frozenset({"place", "site_tz", "clip"})  # schema 2
    schema_version: Literal[1, 2] = VIOLATION_SCHEMA_VERSION  # type: ignore[assignment]
    kind: Literal["violation"] = "violation"
    event_id: EventId = Field(default_factory=new_event_id)
    camera_id: DeviceId
    occurred: WireTime  # wall-clock time of the entry frame
    t: Seconds  # seconds from stream/video start
    frame: Count
    track_id: Count
    bbox: tuple[Pixel, Pixel, Pixel, Pixel]  # x1, y1, x2, y2 pixels, entry frame
    signal: SignalEvidence
    zone: Annotated[list[tuple[Pixel, Pixel]], Field(min_length=3, max_length=64)]
    grace_s: Annotated[float, Field(ge=0, le=3600)]
    offence_code: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9_]+$")] = (
        "PED_RED"
    )
    evidence: Annotated[list[EvidenceImage], Field(max_length=MAX_EVIDENCE_IMAGES)] = []
    match: MatchResult | None = None
    # Schema 2: the clip and the site's time zone (local times on the stills use it).
    clip: EvidenceClip | None = None
    site_tz: TimeZoneName | None = None
    place: Text(200) = ""  # camera's place, as on the data bar

    @model_validator(mode="after")
    def _box_ordered(self) -> ViolationEvent:
        # Inside the image is checked where the JPEG's size is known (check_box_inside).
        x1, y1, x2, y2 = self.bbox
        if not (x1 < x2 and y1 < y2):
            raise ValueError(
                f"bbox: expected x1 < x2 and y1 < y2 (a non-empty box), got {list(self.bbox)}"
            )
        return self


def check_box_inside(
    name: str, box: tuple[float, float, float, float], width: int, height: int
) -> None:
    """Raise ValueError unless ``box`` lies inside a ``width`` × ``height`` image (the
    detector clips its boxes to the frame; half a pixel of rounding is allowed)."""
    x1, y1, x2, y2 = box
    tol = 0.5
    if not all(math.isfinite(v) for v in box) or not (x1 < x2 and y1 < y2):
        raise ValueError(f"{name}: expected a non-empty box [x1, y1, x2, y2], got {list(box)}")
    if x1 < -tol or y1 < -tol or x2 > width + tol or y2 > height + tol:
        raise ValueError(f"{name}: {list(box)} is not inside the {width}x{height} evidence image")


class Ack(WireModel):
    kind: Literal["ack"] = "ack"
    # The event's id; for a message without a valid one, the sha256 of its payload.
    event_id: Annotated[str, Field(pattern=f"{UUID_PATTERN}|{SHA256_PATTERN}")]
    status: Literal["stored", "duplicate", "rejected"]
    reason: Text(500, multiline=True) = ""


# What a camera's health checks can report (edge/scene_health.py, edge/camera_health.py;
# detect_stream: edge/av_capture.py, the sub stream down or rarely paired).
CameraCheckKind = Literal[
    "frozen", "dark", "covered", "monochrome", "moved", "signal_unknown", "detect_stream"
]
MAX_CAMERA_CHECKS = 8
_TEN_YEARS_S = 10 * 365 * 86_400.0


class CameraSignalHealth(Strict):
    """The camera's signal reading now: what the rule would judge an entry against."""

    source: Literal["roi", "controller"]
    phase: SignalPhase
    last_change: WireTime | None = None  # when the current phase began (None: unseen)
    # How long there has been no usable phase (unknown or dark) without interruption.
    unknown_for_s: Annotated[float, Field(ge=0, le=_TEN_YEARS_S)] = 0.0
    stale: bool = False  # controller feed silent past its timeout
    stale_for_s: Annotated[float, Field(ge=0, le=_TEN_YEARS_S)] | None = None
    skew_s: Annotated[float, Field(ge=-_TEN_YEARS_S, le=_TEN_YEARS_S)] | None = None


class CameraCheck(Strict):
    """One failed health check, with the reason a person reads on the devices page."""

    check: CameraCheckKind
    reason: Text(300, multiline=True)
    since: WireTime | None = None
    alert: bool = False  # needs someone to act (e.g. signal unknown for longer than allowed)


class CameraHealth(Strict):
    # camera health (issue 14); target_fps (issue 17): the analysis rate configured
    LATER_FIELDS = frozenset({"checks", "signal", "target_fps"})
    camera_id: DeviceId
    up: bool
    fps: Annotated[float, Field(ge=0, le=1000)] = 0.0
    target_fps: Annotated[float, Field(gt=0, le=1000)] | None = None
    last_frame: datetime | None = None
    error: Text(500, multiline=True) = ""
    signal: CameraSignalHealth | None = None
    checks: Annotated[list[CameraCheck], Field(max_length=MAX_CAMERA_CHECKS)] = []


class DeviceStatus(WireModel):
    kind: Literal["status"] = "status"
    online: bool
    cameras: Annotated[list[CameraHealth], Field(max_length=64)] = []
    outbox_depth: Count = 0
    disk_free_bytes: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None
    disk_low: bool = False
    models: Annotated[dict[Text(64), Text(1024)], Field(max_length=64)] = {}
    gallery_version: Text(128) = ""


# --- camera snapshots (issue 17: the devices page's thumbnail) -------------------------------

# A thumbnail, not evidence: small, every person and face blurred on the gateway before it
# leaves (edge/snapshot.py). Central re-checks size and dimensions and re-encodes it.
SNAPSHOT_MAX_WIDTH = 320
SNAPSHOT_MAX_HEIGHT = 640  # a portrait (9:16) camera at 320 px wide
SNAPSHOT_MAX_BYTES = 64_000  # a 320x240 JPEG at quality 70 is ~10-20 KB
SNAPSHOT_MAX_B64 = 4 * ((SNAPSHOT_MAX_BYTES + 2) // 3)


class CameraSnapshot(WireModel):
    """One camera's recent frame as a small JPEG, anonymised on the gateway: every person
    the detector found on that very frame and every face the face detector found are
    blurred (padded boxes). Signed like the heartbeat; central keeps only the latest per
    camera (no history) and shows it on the devices page."""

    kind: Literal["snapshot"] = "snapshot"
    camera_id: DeviceId
    taken: WireTime  # wall-clock time of the frame
    width: Annotated[int, Field(ge=1, le=SNAPSHOT_MAX_WIDTH)]
    height: Annotated[int, Field(ge=1, le=SNAPSHOT_MAX_HEIGHT)]
    jpeg_b64: Annotated[str, Field(min_length=4, max_length=SNAPSHOT_MAX_B64)]
    blurred_people: Annotated[int, Field(ge=0, le=10_000)] = 0
    blurred_faces: Annotated[int, Field(ge=0, le=10_000)] = 0


SignalGroup = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
PhaseName = Literal["red", "green", "flashing_red", "flashing_green", "dark"]


class SignalPhaseMessage(BaseModel):
    """One pedestrian-signal phase report from a signal controller (through a bridge on
    MQTT, or straight to the gateway over UDP/HTTP on its LAN). Not a device message: no
    device id, no signature; who may send it is the broker ACL's / the LAN input's job.

    ``controller_time`` is when the phase began or was confirmed, on the controller's
    clock: POSIX seconds or ISO-8601 with a UTC offset. Send one message on every change
    and repeat the current phase at least every ``signal.controller_timeout_s`` (a
    heartbeat); ``seq`` counts messages per (site, signal_group), +1 each, so that a
    lost change is noticed. Full description: docs/signal-controller.md.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["signal_phase"] = "signal_phase"
    site: DeviceId
    signal_group: SignalGroup
    phase: PhaseName
    controller_time: AwareDatetime
    seq: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None
    # What produced it, for the log ("ntcip1202", "utmc", "scats", "test"...).
    bridge: Annotated[str, Field(max_length=64)] = ""


class GalleryAnnouncement(WireModel):
    kind: Literal["gallery"] = "gallery"
    version: Text(32, min_length=1)
    sha256: Annotated[str, Field(pattern=SHA256_PATTERN)]
    url: Text(2048, min_length=1)


class DisplayItem(BaseModel):
    """One anonymised infraction for a public screen: never a name, phone or ID."""

    model_config = ConfigDict(extra="forbid")
    item_id: str
    place: str
    occurred: datetime
    offence: str
    fine: str
    image_url: str | None = None
    withdrawn: bool = False


M = TypeVar("M", bound=WireModel)


# --- signing ------------------------------------------------------------------------------


def canonical_bytes(msg: WireModel) -> bytes:
    """The exact bytes that are signed: the JSON body without ``signature``."""
    body = msg.model_dump(mode="json", exclude={"signature"})
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def generate_device_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign_message(msg: M, key: Ed25519PrivateKey) -> M:
    sig = key.sign(canonical_bytes(msg))
    return msg.model_copy(update={"signature": base64.b64encode(sig).decode()})


def verify_message(msg: WireModel, public_key: bytes) -> bool:
    """True only for a message signed by the holder of ``public_key``."""
    if not msg.signature:
        return False
    try:
        sig = base64.b64decode(msg.signature, validate=True)
        Ed25519PublicKey.from_public_bytes(public_key).verify(sig, canonical_bytes(msg))
    except (InvalidSignature, ValueError):
        return False
    return True


MESSAGE_KINDS: dict[str, type[WireModel]] = {
    "violation": ViolationEvent,
    "ack": Ack,
    "status": DeviceStatus,
    "gallery": GalleryAnnouncement,
    "snapshot": CameraSnapshot,  # issue 17
}


def describe(e: ValidationError, limit: int = 2000) -> str:
    """A ValidationError as one line per field (``path: what was expected``), printable."""
    parts = []
    for err in e.errors(include_url=False, include_input=False):
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        parts.append(f"{loc}: {err['msg']}")
    return printable("; ".join(parts), limit)


def parse_message(payload: bytes | str) -> WireModel:
    """Parse any contract message by its ``kind``. Total over any input: every failure is
    a ValueError whose text is printable (safe to store, log and send back).

    Raises:
        ValueError: naming the field and what was expected, or that the payload is not
            UTF-8 JSON.
    """
    try:
        text = payload.decode("utf-8") if isinstance(payload, bytes | bytearray) else payload
        data: Any = json.loads(text)
    except UnicodeDecodeError as e:
        raise ValueError(
            f"payload is not JSON: not valid UTF-8 ({e.reason} at byte {e.start})"
        ) from None
    except RecursionError:
        raise ValueError("payload is not JSON: nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, or an integer beyond Python's digit limit
        raise ValueError(printable(f"payload is not JSON: {e}", 500)) from None
    if not isinstance(data, dict):
        raise ValueError("payload: expected a JSON object")
    kind = data.get("kind")
    model = MESSAGE_KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        shown = printable(repr(kind), 80)
        raise ValueError(f"kind: expected one of {sorted(MESSAGE_KINDS)}, got {shown}")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ValueError(describe(e)) from None
    except RecursionError:
        raise ValueError("payload: nested too deeply") from None
