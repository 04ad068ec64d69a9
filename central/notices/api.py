"""Delivery-receipt callbacks from SMS gateways, as a FastAPI router. ``central serve``
mounts it for the provider of its notices config (``--notices-config`` or
``JAYWATCH_NOTICES_CONFIG``); each provider is authenticated its own way:

- ``POST /api/sms/receipts/http``: JSON ``{"message_id", "status", "error"?}`` signed
  with ``X-Jaywatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`` where the HMAC,
  keyed with ``provider.callback_secret``, is over ``"<t>." + <raw body bytes>``. ``t``
  must be within ``provider.callback_tolerance_s`` of central's clock, so a recorded
  receipt cannot be replayed later (and an earlier state never overwrites a final one,
  see ``receipts.apply_receipt``).
- ``POST /api/sms/receipts/twilio``: Twilio's form-encoded status callback, verified
  with ``X-Twilio-Signature`` (Twilio's documented algorithm: base64 HMAC-SHA1, keyed
  with the account's auth token, over the URL Twilio called followed by every POST
  parameter's name and value sorted by name) against the configured
  ``status_callback`` URL: the URL Twilio signed, whatever proxies sit in between.

A missing, forged or stale signature gets 403 and changes nothing; a signed but
malformed body 422. An unknown message id is acknowledged (200) so the gateway stops
retrying.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy.orm import Session, sessionmaker

from central.notices.config import HttpGatewaySettings, NoticesConfig, TwilioSettings
from central.notices.providers.base import DeliveryReceipt
from central.notices.providers.http import (
    receipt_from_gateway_callback,
    receipt_from_twilio_callback,
)
from central.notices.receipts import apply_receipt

PREFIX = "/api/sms/receipts"
HTTP_SIGNATURE_HEADER = "X-Jaywatch-Signature"


def http_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The value of ``X-Jaywatch-Signature`` a gateway sends for ``body`` at ``timestamp``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_http_signature(
    secret: str, header: str, body: bytes, tolerance_s: float, now: float
) -> None:
    """ValueError unless ``header`` signs ``body`` with ``secret`` at a time near ``now``."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        k, sep, v = item.strip().partition("=")
        if sep:
            parts.setdefault(k, []).append(v)
    ts = parts.get("t", [])
    if len(ts) != 1 or not ts[0].isdigit() or len(ts[0]) > 12:
        raise ValueError(f"{HTTP_SIGNATURE_HEADER}: expected t=<unix seconds>,v1=<hex>")
    t = int(ts[0])
    if abs(now - t) > tolerance_s:
        raise ValueError(f"{HTTP_SIGNATURE_HEADER}: timestamp outside the tolerance")
    expected = http_signature(secret, t, body).split("v1=", 1)[1]
    # Any of the v1 values may match (a gateway rotating its secret sends two).
    if not any(hmac.compare_digest(expected, v) for v in parts.get("v1", [])):
        raise ValueError(f"{HTTP_SIGNATURE_HEADER}: signature does not match")


def receipts_router(
    sessions: sessionmaker[Session],
    config: NoticesConfig,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["sms"])
    p = config.provider

    def _apply(provider: str, receipt: DeliveryReceipt) -> dict[str, Any]:
        with sessions.begin() as s:
            notice_id = apply_receipt(s, provider, receipt)
        return {"ok": True, "notice": notice_id}

    if isinstance(p, HttpGatewaySettings):
        settings = p

        @router.post("/http")
        async def http_receipt(request: Request) -> dict[str, Any]:
            body = await request.body()  # the raw bytes the gateway signed
            try:
                if not settings.callback_secret:
                    raise ValueError("no provider.callback_secret configured")
                verify_http_signature(
                    settings.callback_secret,
                    request.headers.get(HTTP_SIGNATURE_HEADER, ""),
                    body,
                    settings.callback_tolerance_s,
                    clock(),
                )
            except ValueError as e:
                raise HTTPException(403, str(e)) from None
            try:
                data = json.loads(body)
                if not isinstance(data, dict):
                    raise ValueError("callback: expected a JSON object")
                receipt = receipt_from_gateway_callback(data)
            except ValueError as e:  # json.JSONDecodeError is a ValueError
                raise HTTPException(422, str(e)[:200]) from None
            return _apply("http", receipt)

    if isinstance(p, TwilioSettings):
        twilio = p

        @router.post("/twilio")
        async def twilio_receipt(request: Request) -> dict[str, Any]:
            form = await request.form()
            params = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
            url = twilio.status_callback or str(request.url)
            try:
                receipt = receipt_from_twilio_callback(
                    twilio.auth_token, url, params, request.headers.get("x-twilio-signature", "")
                )
            except ValueError as e:
                status = 403 if "Signature" in str(e) else 422
                raise HTTPException(status, str(e)) from None
            return _apply("twilio", receipt)

    return router
