"""The payment-provider interface: one small protocol every checkout provider plugin
implements, and the normalised shapes central's workflow sees (never a provider's own
JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class ProviderError(Exception):
    """The provider could not be reached or refused the request (message says which)."""


class WebhookRejected(ValueError):
    """A webhook that changes nothing: missing/forged signature, stale timestamp, or a
    body that is not the provider's event. ``forged`` tells authentication failures
    (403) from signed-but-malformed bodies (422)."""

    def __init__(self, reason: str, forged: bool) -> None:
        super().__init__(reason)
        self.forged = forged


@dataclass(frozen=True)
class CheckoutRequest:
    """What central asks a provider to collect: the outstanding amount of one fine."""

    reference: str  # the fine's reference: comes back in the webhook
    amount_cents: int
    currency: str  # ISO 4217, upper case
    description: str
    success_url: str  # where the provider sends the person back
    cancel_url: str


@dataclass(frozen=True)
class CheckoutSession:
    session_id: str
    url: str  # the provider's hosted payment page: the person is redirected there


@dataclass(frozen=True)
class ProviderPayment:
    """A completed payment as the provider reported it (normalised)."""

    provider: str  # the configured provider name
    payment_id: str  # the provider's id of the payment: the idempotency key
    reference: str  # the fine reference the checkout was created for
    amount_cents: int
    currency: str
    paid_at: datetime
    details: dict[str, Any] = field(default_factory=dict)  # event id, session id


@dataclass(frozen=True)
class WebhookOutcome:
    """A verified webhook: a payment, or an event central has no use for (``None``,
    acknowledged so the provider stops sending it)."""

    event_id: str
    event_type: str
    payment: ProviderPayment | None


class CheckoutProvider(Protocol):
    """A hosted-checkout provider. ``create_checkout`` talks to the provider (raises
    ProviderError); ``verify_webhook`` authenticates and parses one delivery from the raw
    body bytes (raises WebhookRejected) and has no side effects."""

    name: str

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession: ...

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, now: float
    ) -> WebhookOutcome: ...
