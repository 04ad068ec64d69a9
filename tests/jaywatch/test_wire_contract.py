"""The wire contract's totality and its refusals, without a broker (the end-to-end cases
are in tests/integration/test_hostile_device_ingest.py and tests/central/ingest/test_fuzz.py).
"""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.ingest.classify import ack_id
from jaywatch import wire

any_char = st.characters(codec=None, exclude_categories=())


def _printable(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not printable (hypothesis found one)
        return False
    return not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in s)


@given(
    st.binary(max_size=300) | st.text(any_char, max_size=300).map(lambda t: json.dumps(t).encode())
)
def test_parse_message_fails_only_with_a_printable_value_error(payload: bytes) -> None:
    try:
        wire.parse_message(payload)
    except ValueError as e:
        assert _printable(str(e))


@given(st.text(any_char, max_size=200), st.integers(1, 300))
def test_printable_is_total_bounded_and_valid_utf8(text: str, limit: int) -> None:
    out = wire.printable(text, limit)
    assert len(out) <= limit and _printable(out)
    if _printable(text):
        assert out == text[:limit]  # honest text is left alone


@given(st.binary(max_size=200))
def test_a_rejection_ack_can_always_be_built(payload: bytes) -> None:
    eid = ack_id(payload)
    ack = wire.Ack(device_id="gw-1", event_id=eid, status="rejected", reason="x")
    signed = wire.sign_message(ack, wire.generate_device_key())
    assert wire.parse_message(signed.model_dump_json()) == signed
    assert eid == hashlib.sha256(payload).hexdigest()  # random bytes carry no UUID


def test_ack_id_echoes_only_a_canonical_uuid() -> None:
    good = wire.new_event_id()
    assert ack_id(json.dumps({"event_id": good}).encode()) == good
    for bad in [good.upper(), "\udc80" + good[1:], "a/b" + "z" * 33, good + " "]:
        p = json.dumps({"event_id": bad}).encode()
        assert ack_id(p) == hashlib.sha256(p).hexdigest(), bad


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("event_id", "a/b" + "z" * 33, "event_id"),
        ("occurred", "0001-01-01T00:00:00+23:59", "occurred"),  # year 0 in UTC
        ("bbox", [1.0, 2.0, 1.0, 3.0], "bbox"),
        ("offence_code", "ped red", "offence_code"),
        ("zone", [[0, 0], [1, 1e300], [2, 2]], "zone.1.1"),
    ],
)
def test_refusals_name_the_field(field: str, value: object, words: str) -> None:
    body = json.loads(
        wire.ViolationEvent(
            device_id="gw-1",
            camera_id="cam-1",
            occurred=wire.utcnow(),
            t=1.0,
            frame=1,
            track_id=1,
            bbox=(1.0, 2.0, 3.0, 4.0),
            signal=wire.SignalEvidence(phase="red", red_for_s=2.0),
            zone=[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)],
            grace_s=0.5,
        ).model_dump_json()
    )
    body[field] = value
    with pytest.raises(ValueError, match=words):
        wire.parse_message(json.dumps(body))
