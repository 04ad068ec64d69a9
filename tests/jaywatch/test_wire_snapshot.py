"""``CameraSnapshot`` (issue 17): the devices page's thumbnail on the wire. Signed like the
heartbeat, parsed by ``kind``, limits on size and dimensions in the schema, and a peer
running the contract from before it refuses it cleanly (a named ``kind`` error, which
central's ingest dead-letters) rather than misreading it."""

from __future__ import annotations

import base64
import json

import pytest

from jaywatch import wire
from tests.jaywatch.test_wire_alternatives import OLD

KEY = wire.generate_device_key()
PUB = wire.public_key_bytes(KEY)
JPEG = base64.b64encode(b"\xff\xd8\xff" + b"\0" * 500).decode()


def _snap(**kw: object) -> wire.CameraSnapshot:
    base: dict[str, object] = dict(device_id="gw-1", camera_id="cam-1", taken=wire.utcnow(),
                                   width=320, height=180, jpeg_b64=JPEG)  # fmt: skip
    return wire.CameraSnapshot(**{**base, **kw})  # type: ignore[arg-type]


def test_round_trip_and_signature() -> None:
    signed = wire.sign_message(_snap(blurred_people=2, blurred_faces=1), KEY)
    back = wire.parse_message(signed.model_dump_json().encode())
    assert isinstance(back, wire.CameraSnapshot) and back == signed
    assert wire.verify_message(back, PUB)
    for change in ({"jpeg_b64": JPEG[:-4] + "AAAA"}, {"camera_id": "cam-2"},
                   {"blurred_people": 0}, {"width": 319}):  # fmt: skip
        assert not wire.verify_message(back.model_copy(update=change), PUB), change
    assert not wire.verify_message(back, wire.public_key_bytes(wire.generate_device_key()))
    assert wire.snapshot_topic("gw-1") == "jaywatch/v1/gw-1/snapshot"
    assert wire.SNAPSHOT_WILDCARD == "jaywatch/v1/+/snapshot"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"width": 321}, "width"),
        ({"height": 0}, "height"),
        ({"height": 641}, "height"),
        ({"jpeg_b64": "A" * (wire.SNAPSHOT_MAX_B64 + 4)}, "jpeg_b64"),
        ({"jpeg_b64": ""}, "jpeg_b64"),
        ({"camera_id": "cam/1"}, "camera_id"),
        ({"taken": "2026-01-01T00:00:00"}, "taken"),  # no UTC offset
        ({"blurred_people": -1}, "blurred_people"),
        ({"extra": 1}, "extra"),
    ],
)
def test_out_of_range_fields_are_named(change: dict[str, object], field: str) -> None:
    body = _snap().model_dump(mode="json") | change
    with pytest.raises(ValueError, match=field):
        wire.parse_message(json.dumps(body))


def test_an_older_peer_refuses_it_by_kind() -> None:
    payload = wire.sign_message(_snap(), KEY).model_dump_json()
    with pytest.raises(ValueError, match=r"kind: expected one of .*got 'snapshot'"):
        OLD.parse_message(payload)
