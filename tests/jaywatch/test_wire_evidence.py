"""Schema 2 of a violation: per-still truth, the clip, the site time zone; schema 1 parses."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest

from jaywatch import wire

NOW = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)


def _event(**extra) -> wire.ViolationEvent:
    return wire.ViolationEvent(
        device_id="gw-1",
        camera_id="cam-1",
        occurred=NOW,
        t=6.2,
        frame=62,
        track_id=2,
        bbox=(1, 2, 30, 80),
        signal=wire.SignalEvidence(phase="red", red_for_s=4.2, roi=(1, 2, 3, 4)),
        zone=[(0, 0), (10, 0), (10, 10)],
        grace_s=0.5,
        **extra,
    )


def _clip(data: bytes = b"\x1a\x45\xdf\xa3webm") -> wire.EvidenceClip:
    return wire.EvidenceClip(
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        webm_b64=base64.b64encode(data).decode(),
        fps=10,
        frames=41,
        frame_first=42,
        frame_last=82,
        t_first=4.2,
        t_last=8.2,
        utc_first=NOW,
        width=768,
        height=576,
    )


def test_schema_1_event_without_the_new_fields_still_parses() -> None:
    body = _event().model_dump(mode="json")
    body["schema_version"] = 1
    for k in ("clip", "site_tz", "place"):
        body.pop(k, None)  # unset new fields are not even dumped (wire.Strict.LATER_FIELDS)
    ev = wire.parse_message(wire.json.dumps(body))
    assert ev.schema_version == 1 and ev.clip is None


def test_schema_2_round_trip_keeps_truth_and_clip_and_signature() -> None:
    truth = wire.FrameTruth(
        box=(10, 20, 50, 120),
        foot=(30, 120),
        utc=NOW,
        local=datetime.fromisoformat("2026-12-02T00:00:00+01:00"),
        tz="Europe/Berlin",
        phase="red",
        red_for_s=4.2,
        width=768,
        height=576,
        bar_px=40,
    )
    img = wire.EvidenceImage(role="after", frame=82, t=8.2, jpeg_b64="AAAA", truth=truth)
    key = wire.generate_device_key()
    signed = wire.sign_message(_event(evidence=[img], clip=_clip(), site_tz="Europe/Berlin"), key)
    back = wire.parse_message(signed.model_dump_json())
    assert back.schema_version == 2
    assert back.evidence[0].truth == truth
    assert back.clip == signed.clip
    assert wire.verify_message(back, wire.public_key_bytes(key))
    # The clip's hash is signed: changing it breaks the signature.
    forged = back.model_copy(update={"clip": back.clip.model_copy(update={"sha256": "0" * 64})})
    assert not wire.verify_message(forged, wire.public_key_bytes(key))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sha256", "XYZ"),
        ("size", wire.MAX_CLIP_BYTES + 1),
        ("fps", float("nan")),
        ("frames", 0),
        ("frame_last", 1),  # before frame_first
        ("webm_b64", "A" * (wire.MAX_CLIP_B64 + 4)),
    ],
)
def test_bad_clip_fields_are_named(field: str, value: object) -> None:
    body = _clip().model_dump(mode="json")
    body[field] = value
    with pytest.raises(ValueError, match=field if field != "frame_last" else "frame_last"):
        wire.EvidenceClip.model_validate(body)


def test_truth_rejects_non_finite_coordinates_and_odd_zone_names() -> None:
    base = {
        "box": None,
        "foot": None,
        "utc": NOW.isoformat(),
        "local": NOW.isoformat(),
        "tz": "UTC",
        "phase": "red",
        "width": 10,
        "height": 10,
    }
    wire.FrameTruth.model_validate(base)
    with pytest.raises(ValueError, match="box"):
        wire.FrameTruth.model_validate({**base, "box": [0, 0, float("inf"), 1]})
    with pytest.raises(ValueError, match="tz"):
        wire.FrameTruth.model_validate({**base, "tz": "../../etc/passwd;"})
