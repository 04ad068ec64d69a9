"""Webhook signatures, as the common card providers do them (Stripe's scheme):
``<header>: t=<unix seconds>,v1=<hex HMAC-SHA256>``, the HMAC keyed with the shared
secret over ``"<t>." + <raw body bytes>``. Several ``v1`` values may be sent (a provider
rotating its secret); one must match. The same scheme as the SMS receipts
(central/notices/api.py)."""

from __future__ import annotations

import hashlib
import hmac

from central.payments.base import WebhookRejected


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: bytes, header: str, body: bytes, tolerance_s: float, now: float) -> int:
    """The signed timestamp, or WebhookRejected (forged=True) naming what is wrong."""
    parts: dict[str, list[str]] = {}
    for item in header[:2048].split(","):
        k, sep, v = item.strip().partition("=")
        if sep:
            parts.setdefault(k, []).append(v)
    ts = parts.get("t", [])
    if len(ts) != 1 or not ts[0].isdigit() or len(ts[0]) > 12:
        raise WebhookRejected("signature: expected t=<unix seconds>,v1=<hex>", forged=True)
    t = int(ts[0])
    expected = sign(secret, t, body).split("v1=", 1)[1]
    # Check the MAC before the time: a stale but genuine delivery (a replay) is told
    # apart from a forgery in the log.
    if not any(hmac.compare_digest(expected, v) for v in parts.get("v1", [])):
        raise WebhookRejected("signature: does not match", forged=True)
    if abs(now - t) > tolerance_s:
        raise WebhookRejected(
            f"signature: timestamp {t} is {now - t:+.0f} s from now, outside the "
            f"tolerance of {tolerance_s:.0f} s (a replayed or delayed delivery)",
            forged=True,
        )
    return t
