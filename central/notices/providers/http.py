"""HTTP SMS gateways: a generic JSON gateway and Twilio's Messages resource.

Outcome rules (what the sender's exactly-once logic relies on):
- connection refused / DNS failure → :class:`NotSent` (the request never left);
- a timeout or broken connection after the request was sent, or a 5xx → unknown:
  :class:`MaybeSent`;
- 429 → :class:`NotSent` (retry later); other 4xx → :class:`NotSent` (permanent).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from central.notices.config import HttpGatewaySettings, TwilioSettings
from central.notices.providers.base import (
    DELIVERED,
    ENROUTE,
    UNDELIVERABLE,
    DeliveryReceipt,
    MaybeSent,
    NotSent,
    Submission,
)


def _post(client: httpx.Client, url: str, **kw: Any) -> httpx.Response:
    try:
        r = client.post(url, **kw)
    except httpx.ConnectError as e:
        raise NotSent(f"POST {url}: cannot connect ({e})") from None
    except httpx.TransportError as e:  # timeouts, resets: the request may have arrived
        raise MaybeSent(f"POST {url}: {type(e).__name__} ({e})") from None
    if r.status_code == 429:
        raise NotSent(f"POST {url}: 429 rate limited")
    if r.status_code >= 500:
        raise MaybeSent(f"POST {url}: HTTP {r.status_code}: {r.text[:200]}")
    if r.status_code >= 400:
        raise NotSent(f"POST {url}: HTTP {r.status_code}: {r.text[:200]}", permanent=True)
    return r


def _json(r: httpx.Response, url: str) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        raise MaybeSent(f"POST {url}: HTTP {r.status_code} but the body is not JSON") from None
    if not isinstance(body, dict):
        raise MaybeSent(f"POST {url}: HTTP {r.status_code} but the body is not a JSON object")
    return body


class HttpGatewayProvider:
    """POST ``{"to", "text", "sender", "reference"}`` as JSON with ``Idempotency-Key``;
    the gateway answers ``{"message_ids": [...]}`` (or ``{"id": "..."}``)."""

    name = "http"

    def __init__(self, settings: HttpGatewaySettings, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.idempotent = settings.honours_idempotency_key
        headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
        self._client = client or httpx.Client(timeout=settings.timeout_s, headers=headers)

    def submit(self, to_e164: str, text: str, idempotency_key: str) -> Submission:
        url = self.settings.url
        r = _post(
            self._client,
            url,
            json={
                "to": to_e164,
                "text": text,
                "sender": self.settings.sender,
                "reference": idempotency_key,
            },
            headers={"Idempotency-Key": idempotency_key},
        )
        body = _json(r, url)
        ids = body.get("message_ids") or ([body["id"]] if body.get("id") else [])
        if not ids or not all(isinstance(i, str | int) for i in ids):
            raise MaybeSent(
                f"POST {url}: HTTP {r.status_code} without message ids: {str(body)[:200]}"
            )
        return Submission(message_ids=[str(i) for i in ids])

    def poll_receipts(self, timeout_s: float) -> list[DeliveryReceipt]:
        return []  # the gateway calls back: see receipt_from_gateway_callback

    def close(self) -> None:
        self._client.close()


def receipt_from_gateway_callback(body: Mapping[str, Any]) -> DeliveryReceipt:
    """Generic gateway callback ``{"message_id": ..., "status": ...}`` → receipt."""
    mid, status = body.get("message_id"), body.get("status")
    if not isinstance(mid, str | int) or not isinstance(status, str):
        raise ValueError("callback: expected string fields 'message_id' and 'status'")
    s = status.lower()
    state = {"delivered": DELIVERED, "failed": UNDELIVERABLE, "undelivered": UNDELIVERABLE}.get(
        s, s
    )
    return DeliveryReceipt(message_id=str(mid), state=state, error=body.get("error"))


class TwilioProvider:
    """``POST {base}/2010-04-01/Accounts/{sid}/Messages.json`` (form-encoded, basic auth).

    Twilio offers no idempotency key on message creation, so an interrupted request
    is reported as unknown and the sender flags it for a person to check.
    """

    name = "twilio"
    idempotent = False

    def __init__(self, settings: TwilioSettings, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self._client = client or httpx.Client(
            timeout=settings.timeout_s, auth=(settings.account_sid, settings.auth_token)
        )

    @property
    def messages_url(self) -> str:
        base = self.settings.base_url.rstrip("/")
        return f"{base}/2010-04-01/Accounts/{self.settings.account_sid}/Messages.json"

    def submit(self, to_e164: str, text: str, idempotency_key: str) -> Submission:
        s = self.settings
        form = {"To": to_e164, "Body": text}
        if s.messaging_service_sid:
            form["MessagingServiceSid"] = s.messaging_service_sid
        if s.from_:
            form["From"] = s.from_
        if s.status_callback:
            form["StatusCallback"] = s.status_callback
        r = _post(self._client, self.messages_url, data=form)
        body = _json(r, self.messages_url)
        sid = body.get("sid")
        if not isinstance(sid, str) or not sid:
            raise MaybeSent(f"Twilio answered HTTP {r.status_code} without a message sid")
        return Submission(message_ids=[sid])

    def poll_receipts(self, timeout_s: float) -> list[DeliveryReceipt]:
        return []  # Twilio posts to status_callback: see receipt_from_twilio_callback

    def close(self) -> None:
        self._client.close()


_TWILIO_STATES = {
    "delivered": DELIVERED,
    "undelivered": UNDELIVERABLE,
    "failed": UNDELIVERABLE,
    "queued": ENROUTE,
    "accepted": ENROUTE,
    "sending": ENROUTE,
    "sent": ENROUTE,
}


def twilio_signature(
    auth_token: str, url: str, params: Mapping[str, str] | Sequence[tuple[str, str]]
) -> str:
    """X-Twilio-Signature as Twilio documents it: base64(HMAC-SHA1(auth token, URL +
    each POST parameter's name and value, sorted by name; a repeated name's values in
    sorted order))."""
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    payload = url + "".join(k + v for k, v in sorted(pairs))
    return base64.b64encode(
        hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    ).decode()


def receipt_from_twilio_callback(
    auth_token: str,
    url: str,
    params: Mapping[str, str] | Sequence[tuple[str, str]],
    signature: str,
) -> DeliveryReceipt:
    """Verify a status callback's signature, then map it; ValueError if forged/malformed."""
    if not hmac.compare_digest(
        twilio_signature(auth_token, url, params).encode(), (signature or "").encode()
    ):
        raise ValueError("Twilio callback: bad X-Twilio-Signature")
    fields = dict(params.items() if isinstance(params, Mapping) else params)
    sid, status = fields.get("MessageSid"), fields.get("MessageStatus")
    if not sid or not status:
        raise ValueError("Twilio callback: MessageSid and MessageStatus are required")
    return DeliveryReceipt(
        message_id=sid, state=_TWILIO_STATES.get(status, status), error=fields.get("ErrorCode")
    )
