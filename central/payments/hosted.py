"""``kind: hosted`` — a hosted-checkout provider with the shape of the common card
providers' API (Stripe Checkout's, reduced to what central needs):

- ``POST {api_url}/v1/checkout/sessions`` (Bearer api key, ``Idempotency-Key``) with JSON
  ``{"client_reference_id", "amount", "currency", "description", "success_url",
  "cancel_url"}`` → ``{"id", "url"}``; the person is redirected to ``url``.
- The provider then POSTs events to central's ``/api/payments/webhook``, signed as in
  central/payments/signature.py, e.g.::

    {"id": "evt_…", "type": "checkout.session.completed", "created": 1764650000,
     "data": {"object": {"id": "cs_…", "client_reference_id": "JW-ABCD-EFGH",
              "amount_total": 3000, "currency": "eur", "payment_status": "paid",
              "payment_intent": "pi_…"}}}

  Only ``checkout.session.completed`` with ``payment_status: paid`` is a payment; its
  ``payment_intent`` is the payment id central is idempotent on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from central.config import CheckoutProviderSettings
from central.payments import signature
from central.payments.base import (
    CheckoutRequest,
    CheckoutSession,
    ProviderError,
    ProviderPayment,
    WebhookOutcome,
    WebhookRejected,
)
from central.payments.secrets import read_secret_file

PAID_EVENT = "checkout.session.completed"
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_REF = re.compile(r"[A-Za-z0-9-]{1,32}")


class HostedCheckout:
    """The ``hosted`` provider plugin."""

    def __init__(self, settings: CheckoutProviderSettings) -> None:
        self.name = settings.name
        self.settings = settings
        self._secret = read_secret_file(
            settings.webhook_secret_file, "payments.provider.webhook_secret_file"
        )
        self._api_key = (
            read_secret_file(settings.api_key_file, "payments.provider.api_key_file").decode()
            if settings.api_key_file
            else None
        )

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        headers = {"Idempotency-Key": f"{request.reference}:{request.amount_cents}"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        body = {
            "client_reference_id": request.reference,
            "amount": request.amount_cents,
            "currency": request.currency.lower(),
            "description": request.description,
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
        url = self.settings.api_url.rstrip("/") + "/v1/checkout/sessions"
        try:
            r = httpx.post(url, json=body, headers=headers, timeout=self.settings.timeout_s)
        except httpx.HTTPError as e:
            raise ProviderError(f"payment provider {self.name}: {type(e).__name__}: {e}") from None
        if r.status_code != 200:
            raise ProviderError(
                f"payment provider {self.name}: checkout refused ({r.status_code}): {r.text[:200]}"
            )
        try:
            data = r.json()
            sid, page = data["id"], data["url"]
        except (ValueError, KeyError, TypeError):
            raise ProviderError(
                f"payment provider {self.name}: unexpected answer {r.text[:200]!r}"
            ) from None
        if not (isinstance(sid, str) and _ID.fullmatch(sid)):
            raise ProviderError(f"payment provider {self.name}: session id {sid!r} not an id")
        if not (isinstance(page, str) and re.match(r"https?://", page)):
            raise ProviderError(f"payment provider {self.name}: checkout url {page!r} not http(s)")
        return CheckoutSession(session_id=sid, url=page)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, now: float) -> WebhookOutcome:
        header = headers.get(self.settings.signature_header, "")
        if not header:
            raise WebhookRejected(f"{self.settings.signature_header}: header missing", forged=True)
        signature.verify(self._secret, header, body, self.settings.webhook_tolerance_s, now)
        return parse_event(self.name, body)


def _Malformed(reason: str) -> WebhookRejected:  # reads like an exception
    return WebhookRejected(reason, forged=False)


def _field(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    v = obj.get(key)
    if not isinstance(v, kind) or isinstance(v, bool):
        raise WebhookRejected(
            f"{where}.{key}: expected {kind.__name__}, got {v!r:.60}", forged=False
        )
    return v


def parse_event(provider: str, body: bytes) -> WebhookOutcome:
    """The normalised event of a signed body; WebhookRejected(forged=False) if malformed."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _Malformed("body: not JSON") from None
    if not isinstance(data, dict):
        raise _Malformed("body: expected a JSON object")
    event_id = _field(data, "id", str, "event")[:128]
    event_type = _field(data, "type", str, "event")[:64]
    if event_type != PAID_EVENT:
        return WebhookOutcome(event_id, event_type, None)
    obj = _field(_field(data, "data", dict, "event"), "object", dict, "event.data")
    where = "event.data.object"
    if obj.get("payment_status") != "paid":
        return WebhookOutcome(event_id, event_type, None)  # e.g. an async method, not yet paid
    ref = _field(obj, "client_reference_id", str, where)
    pid = obj.get("payment_intent") or obj.get("id")
    amount = _field(obj, "amount_total", int, where)
    currency = _field(obj, "currency", str, where)
    if not (isinstance(pid, str) and _ID.fullmatch(pid)):
        raise WebhookRejected(
            f"{where}.payment_intent: expected an id, got {pid!r:.60}", forged=False
        )
    if not _REF.fullmatch(ref):
        raise WebhookRejected(
            f"{where}.client_reference_id: not a reference: {ref!r:.60}", forged=False
        )
    if not 0 < amount <= 10**12:
        raise WebhookRejected(
            f"{where}.amount_total: expected 1..10^12 cents, got {amount}", forged=False
        )
    if not re.fullmatch(r"[A-Za-z]{3}", currency):
        raise WebhookRejected(
            f"{where}.currency: expected ISO 4217, got {currency!r:.20}", forged=False
        )
    created = data.get("created")
    paid_at = (
        datetime.fromtimestamp(created, UTC)
        if isinstance(created, int) and 0 < created < 10**11
        else datetime.now(UTC)
    )
    payment = ProviderPayment(
        provider=provider,
        payment_id=pid,
        reference=ref,
        amount_cents=amount,
        currency=currency.upper(),
        paid_at=paid_at,
        details={"event_id": event_id, "session_id": str(obj.get("id", ""))[:128]},
    )
    return WebhookOutcome(event_id, event_type, payment)
