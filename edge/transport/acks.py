"""Central's application-level acks: the only thing that removes an event from the outbox.

Trust: the broker ACL lets only central's user write ``jaywatch/v1/<device>/ack``, so an
ack on our topic is central's. When the gateway is configured with central's public key
(``central_public_key``), an ack must also carry central's Ed25519 signature; that guards
against a compromised broker account, at the cost of central having to sign its acks.
Anything that does not parse, is for another device, or fails the check is ignored (the
event stays queued and is resent: the safe side).
"""

from __future__ import annotations

import enum
import logging

from jaywatch.wire import Ack, parse_message, verify_message

log = logging.getLogger(__name__)


class AckOutcome(enum.Enum):
    STORED = "stored"  # stored or duplicate at central: delete from the outbox
    REJECTED = "rejected"  # central refused it: quarantine, stop resending
    IGNORED = "ignored"  # malformed, foreign or unsigned: keep the event queued


def parse_ack(
    payload: bytes, *, device_id: str, central_key: bytes | None = None
) -> tuple[AckOutcome, Ack | None]:
    """Decide what an ack payload means for this device's outbox."""
    try:
        msg = parse_message(payload)
    except ValueError as e:
        log.warning("ignoring unparsable ack: %s", e)
        return AckOutcome.IGNORED, None
    if not isinstance(msg, Ack):
        log.warning("ignoring %s message on the ack topic", msg.kind)  # type: ignore[attr-defined]
        return AckOutcome.IGNORED, None
    if msg.device_id != device_id:
        log.warning("ignoring ack for device %s (this is %s)", msg.device_id, device_id)
        return AckOutcome.IGNORED, msg
    if central_key is not None and not verify_message(msg, central_key):
        log.warning("ignoring ack for %s: bad or missing central signature", msg.event_id)
        return AckOutcome.IGNORED, msg
    if msg.status in ("stored", "duplicate"):
        return AckOutcome.STORED, msg
    return AckOutcome.REJECTED, msg
