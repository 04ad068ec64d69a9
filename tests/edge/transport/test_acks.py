"""What an ack payload means (no broker needed); the link applies it to the outbox
(edge/transport/mqtt.py ``_apply_acks``, tested through a real broker beside this)."""

from __future__ import annotations

from edge.transport import AckOutcome, parse_ack
from jaywatch.wire import Ack, generate_device_key, public_key_bytes, sign_message

# Event ids are UUIDs on the wire (an ack for anything else does not parse).
E1, E2, E3 = (f"00000000-0000-4000-8000-00000000000{i}" for i in (1, 2, 3))


def _ack(status: str, device: str = "gw-1", event: str = E1) -> Ack:
    return Ack(device_id=device, event_id=event, status=status)  # type: ignore[arg-type]


def test_stored_and_duplicate_mean_stored_rejected_keeps_its_reason() -> None:
    outcome, ack = parse_ack(_ack("stored").model_dump_json().encode(), device_id="gw-1")
    assert outcome is AckOutcome.STORED and ack is not None and ack.event_id == E1
    dup = _ack("duplicate", event=E2).model_dump_json().encode()
    assert parse_ack(dup, device_id="gw-1")[0] is AckOutcome.STORED
    rej = _ack("rejected", event=E3).model_copy(update={"reason": "bad signature"})
    outcome, ack = parse_ack(rej.model_dump_json().encode(), device_id="gw-1")
    assert outcome is AckOutcome.REJECTED and ack is not None
    assert (ack.event_id, ack.reason) == (E3, "bad signature")


def test_foreign_malformed_or_unsigned_acks_are_ignored() -> None:
    central = generate_device_key()
    ck = public_key_bytes(central)
    cases = [
        (_ack("stored", device="gw-2").model_dump_json().encode(), None),
        (b"{not json", None),
        (b'{"kind": "status", "device_id": "gw-1", "online": true}', None),
        (_ack("stored").model_dump_json().encode(), ck),  # unsigned, key required
        (sign_message(_ack("stored"), generate_device_key()).model_dump_json().encode(), ck),
    ]
    for payload, key in cases:
        assert parse_ack(payload, device_id="gw-1", central_key=key)[0] is AckOutcome.IGNORED
    signed = sign_message(_ack("stored"), central).model_dump_json().encode()
    outcome, ack = parse_ack(signed, device_id="gw-1", central_key=ck)
    assert outcome is AckOutcome.STORED and ack is not None and ack.event_id == E1
