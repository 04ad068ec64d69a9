"""The provider interface every SMS channel implements, and what it may raise.

The sender's exactly-once logic depends on providers telling three outcomes apart:
accepted (message ids returned), definitely not sent (:class:`NotSent`), and unknown
(:class:`MaybeSent`: the request may have reached the provider).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

# Normalised receipt states (SMPP stat:/message_state, HTTP and Twilio statuses map here).
ENROUTE = "enroute"
DELIVERED = "delivered"
UNDELIVERABLE = "undeliverable"  # final: the handset will not get it
FINAL_FAILURES = frozenset({UNDELIVERABLE, "expired", "rejected", "deleted"})


class ProviderError(Exception):
    pass


class NotSent(ProviderError):
    """Nothing reached the recipient's network. ``permanent``: retrying cannot help
    (e.g. the provider refuses the destination number)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class MaybeSent(ProviderError):
    """The submission was interrupted after it may have been accepted.
    ``message_ids``: parts known to be accepted before the interruption."""

    def __init__(self, message: str, message_ids: list[str] | None = None) -> None:
        super().__init__(message)
        self.message_ids = list(message_ids or [])


@dataclass(frozen=True)
class DeliveryReceipt:
    message_id: str
    state: str  # enroute | delivered | undeliverable | expired | rejected | deleted | ...
    at: datetime | None = None
    error: str | None = None


@dataclass
class Submission:
    message_ids: list[str]
    encoding: str = "text"  # gsm7 | ucs2 | text (the provider encodes)
    receipts: list[DeliveryReceipt] = field(default_factory=list)  # known at submit time


class SmsProvider(Protocol):
    name: str
    # True if submit() with the same idempotency key never sends twice (the provider
    # de-duplicates): an interrupted submission may then simply be repeated.
    idempotent: bool

    def submit(self, to_e164: str, text: str, idempotency_key: str) -> Submission:
        """Send one SMS (split into parts as needed); return the provider's ids."""
        ...

    def poll_receipts(self, timeout_s: float) -> list[DeliveryReceipt]:
        """Receipts that arrived on the provider's own channel (SMPP deliver_sm);
        callback-based providers return [] and receive theirs via the API."""
        ...

    def close(self) -> None: ...
