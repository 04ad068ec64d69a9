"""A gateway still on the older wire contract keeps working after central is upgraded.

The messages in data/schema1_messages.json were signed by the contract as it was before
schema 2 (per-still truth, clip, site time zone) and camera health: their bodies lack
those fields. Central must reproduce exactly the signed bytes, or every event of such a
gateway would be dead-lettered as forged.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from jaywatch import wire

DATA = json.loads((Path(__file__).parent / "data" / "schema1_messages.json").read_text())
KEY = base64.b64decode(DATA["public_key_b64"])


def test_older_gateways_violation_verifies() -> None:
    msg = wire.parse_message(DATA["violation"].encode())
    assert isinstance(msg, wire.ViolationEvent) and msg.schema_version == 1
    assert msg.clip is None and all(e.truth is None for e in msg.evidence)
    assert wire.verify_message(msg, KEY)


def test_older_gateways_heartbeat_verifies() -> None:
    msg = wire.parse_message(DATA["status"].encode())
    assert wire.verify_message(msg, KEY)


def test_a_changed_old_message_still_fails() -> None:
    tampered = DATA["violation"].replace('"track_id":7', '"track_id":8')
    assert tampered != DATA["violation"]
    assert not wire.verify_message(wire.parse_message(tampered.encode()), KEY)


def test_new_fields_are_signed_when_present() -> None:
    msg = wire.parse_message(DATA["violation"].encode())
    placed = msg.model_copy(update={"place": "Main St / 3rd Ave"})
    assert b"Main St" in wire.canonical_bytes(placed)
    assert b'"place"' not in wire.canonical_bytes(msg)  # default: left out, as old gateways did


def test_target_fps_is_a_later_field_of_the_heartbeat() -> None:
    """An older gateway's heartbeat has no target_fps and still verifies (above); a new
    one signs it only when set."""
    old = wire.parse_message(DATA["status"].encode())
    assert isinstance(old, wire.DeviceStatus)
    cam = wire.CameraHealth(camera_id="cam-1", up=True, fps=9.5)
    assert b"target_fps" not in wire.canonical_bytes(old.model_copy(update={"cameras": [cam]}))
    with_target = cam.model_copy(update={"target_fps": 10.0})
    body = wire.canonical_bytes(old.model_copy(update={"cameras": [with_target]}))
    assert b'"target_fps":10.0' in body
