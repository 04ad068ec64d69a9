"""Delivery-receipt callbacks from HTTP gateways, as a FastAPI router the central API
mounts: ``app.include_router(receipts_router(sessions, notices_config))``.

- ``POST /sms/receipts/http``: JSON ``{"message_id", "status", "error"?}`` with
  ``Authorization: Bearer <provider.callback_token>``;
- ``POST /sms/receipts/twilio``: Twilio's form-encoded status callback, verified with
  ``X-Twilio-Signature`` against the configured ``status_callback`` URL (the URL
  Twilio signed, whatever proxies sit in between).
An unknown message id is acknowledged (200) so the gateway stops retrying; a forged
or malformed callback gets 401/422 and changes nothing.
"""

from __future__ import annotations

import hmac
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


def receipts_router(sessions: sessionmaker[Session], config: NoticesConfig) -> APIRouter:
    router = APIRouter(prefix="/sms/receipts", tags=["sms"])
    p = config.provider

    def _apply(provider: str, receipt: DeliveryReceipt) -> dict[str, Any]:
        with sessions.begin() as s:
            notice_id = apply_receipt(s, provider, receipt)
        return {"ok": True, "notice": notice_id}

    if isinstance(p, HttpGatewaySettings):
        settings = p

        @router.post("/http")
        async def http_receipt(request: Request) -> dict[str, Any]:
            token = settings.callback_token
            given = request.headers.get("authorization", "")
            if not token or not hmac.compare_digest(given, f"Bearer {token}"):
                raise HTTPException(401, "bad or missing callback token")
            try:
                body = await request.json()
                if not isinstance(body, dict):
                    raise ValueError("callback: expected a JSON object")
                receipt = receipt_from_gateway_callback(body)
            except ValueError as e:
                raise HTTPException(422, str(e)) from None
            return _apply("http", receipt)

    if isinstance(p, TwilioSettings):
        twilio = p

        @router.post("/twilio")
        async def twilio_receipt(request: Request) -> dict[str, Any]:
            form = {k: str(v) for k, v in (await request.form()).items()}
            url = twilio.status_callback or str(request.url)
            try:
                receipt = receipt_from_twilio_callback(
                    twilio.auth_token, url, form, request.headers.get("x-twilio-signature", "")
                )
            except ValueError as e:
                status = 401 if "Signature" in str(e) else 422
                raise HTTPException(status, str(e)) from None
            return _apply("twilio", receipt)

    return router
