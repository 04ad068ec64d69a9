"""Local HTTP SMS gateways for tests (http.server in a thread): a generic JSON gateway
that de-duplicates on Idempotency-Key, and a Twilio Messages API look-alike. Each
checks the request (auth, content type, fields) and answers 4xx if it is wrong."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Base:
    def __init__(self) -> None:
        self.sms: list[dict[str, Any]] = []  # what would reach phones
        self.requests: list[dict[str, Any]] = []
        self.fail_after_accept = 0  # next N requests: record the SMS, then answer 500
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with owner.lock:
                    code, reply = owner.handle(self.path, dict(self.headers), body)
                data = json.dumps(reply).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError

    def _accepted(self, reply: tuple[int, dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        if self.fail_after_accept > 0:
            self.fail_after_accept -= 1
            return 500, {"error": "internal error after accepting"}
        return reply

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class JsonGateway(_Base):
    TOKEN = "gw-secret-token"

    def __init__(self) -> None:
        self.by_key: dict[str, str] = {}
        super().__init__()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/messages"

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        h = {k.lower(): v for k, v in headers.items()}
        self.requests.append({"path": path, "headers": h, "body": body})
        if path != "/v1/messages":
            return 404, {"error": "no such path"}
        if h.get("authorization") != f"Bearer {self.TOKEN}":
            return 401, {"error": "bad token"}
        if not h.get("content-type", "").startswith("application/json"):
            return 415, {"error": "JSON only"}
        msg = json.loads(body)
        if set(msg) != {"to", "text", "sender", "reference"} or not str(msg["to"]).startswith("+"):
            return 400, {"error": f"bad fields {sorted(msg)}"}
        key = h.get("idempotency-key")
        if not key or key != msg["reference"]:
            return 400, {"error": "Idempotency-Key missing or not the reference"}
        if msg["to"].startswith("+99"):
            return 422, {"error": "unroutable destination"}
        if key in self.by_key:  # de-duplicated: the original message, no new SMS
            return 200, {"message_ids": [self.by_key[key]]}
        mid = f"gw-{len(self.sms) + 1}"
        self.sms.append(msg)
        self.by_key[key] = mid
        return self._accepted((201, {"message_ids": [mid]}))


class TwilioLike(_Base):
    SID, TOKEN = "AC0123456789abcdef0123456789abcdef", "twilio-auth-token"

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        h = {k.lower(): v for k, v in headers.items()}
        self.requests.append({"path": path, "headers": h, "body": body})
        if path != f"/2010-04-01/Accounts/{self.SID}/Messages.json":
            return 404, {"code": 20404, "message": "not found"}
        basic = "Basic " + base64.b64encode(f"{self.SID}:{self.TOKEN}".encode()).decode()
        if h.get("authorization") != basic:
            return 401, {"code": 20003, "message": "Authenticate"}
        if h.get("content-type") != "application/x-www-form-urlencoded":
            return 400, {"code": 0, "message": "form-encoded body expected"}
        form = {
            k: v[0] for k, v in urllib.parse.parse_qs(body.decode(), strict_parsing=True).items()
        }
        if (
            "To" not in form
            or "Body" not in form
            or not ({"From", "MessagingServiceSid"} & set(form))
        ):
            return 400, {"code": 21604, "message": "To, Body and From are required"}
        sid = f"SM{len(self.sms) + 1:032x}"
        self.sms.append(form)
        return self._accepted((201, {"sid": sid, "status": "queued", "to": form["To"]}))
