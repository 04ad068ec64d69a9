"""What an ack payload means for the outbox (no broker needed)."""

from __future__ import annotations

from edge.outbox import Outbox
from edge.transport import AckOutcome, apply_ack, parse_ack
from jaywatch.wire import Ack, generate_device_key, public_key_bytes, sign_message

# Event ids are UUIDs on the wire (an ack for anything else does not parse).
E1, E2, E3 = (f"00000000-0000-4000-8000-00000000000{i}" for i in (1, 2, 3))


def _ack(status: str, device: str = "gw-1", event: str = E1) -> Ack:
    return Ack(device_id=device, event_id=event, status=status)  # type: ignore[arg-type]


def test_stored_and_duplicate_delete_rejected_quarantines(tmp_path) -> None:
    with Outbox(tmp_path / "o.sqlite") as ob:
        for e in (E1, E2, E3):
            ob.put(e, "cam", b"x")
        assert (
            apply_ack(ob, _ack("stored").model_dump_json().encode(), device_id="gw-1")
            is AckOutcome.STORED
        )
        dup = _ack("duplicate", event=E2).model_dump_json().encode()
        assert apply_ack(ob, dup, device_id="gw-1") is AckOutcome.STORED
        rej = _ack("rejected", event=E3).model_copy(update={"reason": "bad signature"})
        assert (
            apply_ack(ob, rej.model_dump_json().encode(), device_id="gw-1") is AckOutcome.REJECTED
        )
        assert ob.depth() == 0 and ob.rejected_count() == 1


def test_foreign_malformed_or_unsigned_acks_keep_the_event(tmp_path) -> None:
    central = generate_device_key()
    ck = public_key_bytes(central)
    with Outbox(tmp_path / "o.sqlite") as ob:
        ob.put(E1, "cam", b"x")
        cases = [
            (_ack("stored", device="gw-2").model_dump_json().encode(), None),
            (b"{not json", None),
            (b'{"kind": "status", "device_id": "gw-1", "online": true}', None),
            (_ack("stored").model_dump_json().encode(), ck),  # unsigned, key required
            (sign_message(_ack("stored"), generate_device_key()).model_dump_json().encode(), ck),
        ]
        for payload, key in cases:
            assert apply_ack(ob, payload, device_id="gw-1", central_key=key) is AckOutcome.IGNORED
        assert ob.depth() == 1
        signed = sign_message(_ack("stored"), central).model_dump_json().encode()
        outcome, ack = parse_ack(signed, device_id="gw-1", central_key=ck)
        assert outcome is AckOutcome.STORED and ack is not None and ack.event_id == E1
