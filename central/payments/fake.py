"""A local fake checkout provider for tests and the demo — never for real money.

It speaks the ``hosted`` provider's API (central/payments/hosted.py): creates checkout
sessions, serves a checkout page, and when "paid" it sends a **real signed webhook**
(HMAC-SHA256, ``t=…,v1=…``) to central's ``/api/payments/webhook``, then sends the
browser back to the success URL. Tests also drive it directly (``complete``) and replay
or forge deliveries (``deliver``).

Run on its own: ``jaywatch central payments fake-provider --secret-file F --webhook-url U``.
"""

from __future__ import annotations

import html
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from central.fines import format_money
from central.payments import signature

log = logging.getLogger(__name__)


@dataclass
class FakeSession:
    id: str
    reference: str
    amount_cents: int
    currency: str
    description: str
    success_url: str
    cancel_url: str
    status: str = "open"  # open | paid
    payment_id: str | None = None


@dataclass
class Delivery:
    body: bytes
    header: str
    status_code: int | None  # None: central unreachable
    response: str = ""


@dataclass
class FakeProvider:
    """``start()`` serves on ``host:port`` (0: a free port) in a thread."""

    secret: bytes
    webhook_url: str
    api_key: str | None = None
    signature_header: str = "Webhook-Signature"
    host: str = "127.0.0.1"
    port: int = 0
    sessions: dict[str, FakeSession] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeProvider:
        self._server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True, name="fake-psp").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- what the provider does --------------------------------------------------------

    def create_session(self, body: dict[str, Any]) -> FakeSession:
        s = FakeSession(
            id="cs_fake_" + secrets.token_hex(8),
            reference=str(body["client_reference_id"]),
            amount_cents=int(body["amount"]),
            currency=str(body["currency"]),
            description=str(body.get("description", "")),
            success_url=str(body["success_url"]),
            cancel_url=str(body["cancel_url"]),
        )
        with self._lock:
            self.sessions[s.id] = s
        return s

    def event(self, s: FakeSession, amount_cents: int | None = None) -> bytes:
        """The ``checkout.session.completed`` event body for ``s`` (a new payment id)."""
        s.payment_id = s.payment_id or "pi_fake_" + secrets.token_hex(8)
        return json.dumps(
            {
                "id": "evt_fake_" + secrets.token_hex(8),
                "type": "checkout.session.completed",
                "created": int(time.time()),
                "data": {
                    "object": {
                        "id": s.id,
                        "client_reference_id": s.reference,
                        "amount_total": s.amount_cents if amount_cents is None else amount_cents,
                        "currency": s.currency,
                        "payment_status": "paid",
                        "payment_intent": s.payment_id,
                    }
                },
            }
        ).encode()

    def sign(self, body: bytes, timestamp: int | None = None) -> str:
        return signature.sign(
            self.secret, int(time.time()) if timestamp is None else timestamp, body
        )

    def deliver(self, body: bytes, header: str | None = None) -> Delivery:
        """POST ``body`` to central's webhook, signed now unless ``header`` is given."""
        header = self.sign(body) if header is None else header
        try:
            r = httpx.post(
                self.webhook_url,
                content=body,
                headers={self.signature_header: header, "Content-Type": "application/json"},
                timeout=30,
            )
            d = Delivery(body, header, r.status_code, r.text[:500])
        except httpx.HTTPError as e:
            d = Delivery(body, header, None, f"{type(e).__name__}: {e}")
        log.info("fake provider: webhook %s -> %s", self.webhook_url, d.status_code)
        with self._lock:
            self.deliveries.append(d)
        return d

    def complete(self, session_id: str, amount_cents: int | None = None) -> Delivery:
        """The person paid on the checkout page: mark it paid and send the webhook."""
        with self._lock:
            s = self.sessions[session_id]
            s.status = "paid"
        return self.deliver(self.event(s, amount_cents))


def _page(s: FakeSession) -> bytes:
    money = html.escape(format_money(s.amount_cents, s.currency.upper()))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Fake payment provider</title></head><body>
<p><strong>Fake payment provider — for tests and the demo, no money moves.</strong></p>
<h1>Pay {money}</h1><p>Reference {html.escape(s.reference)}: {html.escape(s.description)}</p>
<form method="post" action="/checkout/{s.id}/pay">
<label for="amount">Amount in cents (tests may pay less or more)</label>
<input id="amount" name="amount" value="{s.amount_cents}" inputmode="numeric">
<button id="pay" type="submit">Pay {money}</button></form>
<p><a id="cancel" href="{html.escape(s.cancel_url)}">Cancel</a></p></body></html>""".encode()


def _handler(fp: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("fake provider: " + fmt, *args)

        def _send(self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, obj: Any) -> None:
            self._send(code, json.dumps(obj).encode(), "application/json")

        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(min(n, 1_000_000))

        def do_GET(self) -> None:
            parts = urlparse(self.path).path.strip("/").split("/")
            if len(parts) == 2 and parts[0] == "checkout" and parts[1] in fp.sessions:
                s = fp.sessions[parts[1]]
                if s.status == "paid":
                    self._send(303, b"", "text/plain", {"Location": s.success_url})
                else:
                    self._send(200, _page(s), "text/html; charset=utf-8")
                return
            self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            path = urlparse(self.path).path
            body = self._body()
            if path == "/v1/checkout/sessions":
                if fp.api_key and self.headers.get("Authorization") != f"Bearer {fp.api_key}":
                    self._json(401, {"error": "bad api key"})
                    return
                try:
                    s = fp.create_session(json.loads(body))
                except (ValueError, KeyError, TypeError) as e:
                    self._json(400, {"error": f"bad request: {e}"})
                    return
                self._json(200, {"id": s.id, "url": f"{fp.url}/checkout/{s.id}"})
                return
            parts = path.strip("/").split("/")
            if len(parts) == 3 and parts[0] == "checkout" and parts[2] == "pay":
                s = fp.sessions.get(parts[1])
                if s is None:
                    self._json(404, {"error": "no such session"})
                    return
                form = parse_qs(body.decode(errors="replace"))
                amount = form.get("amount", [str(s.amount_cents)])[0]
                fp.complete(s.id, int(amount) if amount.isdigit() else None)
                self._send(303, b"", "text/plain", {"Location": s.success_url})
                return
            self._json(404, {"error": "not found"})

    return Handler
