"""Receipt callbacks through the FastAPI router (real ASGI app, real database)."""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from central.notices.api import http_signature, receipts_router
from central.notices.config import HttpGatewaySettings, TwilioSettings
from central.notices.providers.http import twilio_signature
from central.notices.providers.log import LogProvider
from central.notices.worker import NoticeSender
from tests.central.notices.helpers import UK_PHONE, add_notice, fast_config, notice

SECRET = "cb-secret-0123456789"


def _signed(body: bytes, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    sig = http_signature(secret, int(time.time() if at is None else at), body)
    return {"X-Jaywatch-Signature": sig, "Content-Type": "application/json"}


class FixedIds(LogProvider):
    """Log provider with predictable ids, standing in for a gateway's answer."""

    def __init__(self, name: str, prefix: str) -> None:
        super().__init__()
        self.name, self.prefix, self.n = name, prefix, 0

    def submit(self, to_e164: str, text: str, idempotency_key: str):  # type: ignore[no-untyped-def]
        self.n += 1
        sub = super().submit(to_e164, text, idempotency_key)
        sub.message_ids = [f"{self.prefix}{self.n}"]
        self._receipts.clear()  # receipts come by callback here
        return sub


def test_http_callback_needs_the_token_and_marks_delivered(sessions: sessionmaker[Session]) -> None:
    nid = add_notice(sessions, UK_PHONE)
    cfg = fast_config(
        provider=HttpGatewaySettings(kind="http", url="http://gw.invalid/x", callback_secret=SECRET)
    )
    NoticeSender(sessions, cfg, FixedIds("http", "gw-")).run_once()
    app = FastAPI()
    app.include_router(receipts_router(sessions, cfg))
    c = TestClient(app)
    url = "/api/sms/receipts/http"
    body = b'{"message_id": "gw-1", "status": "delivered"}'
    assert c.post(url, content=body).status_code == 403
    assert c.post(url, content=body, headers=_signed(body, "another-secret-xyz")).status_code == 403
    stale = _signed(body, at=time.time() - 301)
    assert c.post(url, content=body, headers=stale).status_code == 403
    for junk in ("t=abc,v1=00", "v1=00", "t=1,t=2,v1=00", "\x00" * 300):
        r = c.post(url, content=body, headers={"X-Jaywatch-Signature": junk})
        assert r.status_code == 403
    assert notice(sessions, nid).status == "sent"
    bad = b'{"status": 1}'
    assert c.post(url, content=bad, headers=_signed(bad)).status_code == 422
    nojson = b"\xff\xfe not json"
    assert c.post(url, content=nojson, headers=_signed(nojson)).status_code == 422
    ok = c.post(url, content=body, headers=_signed(body))
    assert ok.status_code == 200 and ok.json()["notice"] == nid
    assert notice(sessions, nid).status == "delivered"
    unknown = b'{"message_id": "gw-999", "status": "delivered"}'
    r = c.post(url, content=unknown, headers=_signed(unknown))
    assert r.status_code == 200 and r.json()["notice"] is None


def test_twilio_callback_signature_checked_and_failure_means_paper(
    sessions: sessionmaker[Session],
) -> None:
    nid = add_notice(sessions, UK_PHONE)
    url = "https://jaywatch.example.org/api/sms/receipts/twilio"
    cfg = fast_config(
        provider=TwilioSettings(
            kind="twilio",
            account_sid="AC1",
            auth_token="tok",
            messaging_service_sid="MG1",
            status_callback=url,
        )
    )
    NoticeSender(sessions, cfg, FixedIds("twilio", "SM")).run_once()
    app = FastAPI()
    app.include_router(receipts_router(sessions, cfg))
    c = TestClient(app)
    form = {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    r = c.post("/api/sms/receipts/twilio", data=form, headers={"X-Twilio-Signature": "forged"})
    assert r.status_code == 403
    assert notice(sessions, nid).status == "sent"
    sig = twilio_signature("tok", url, form)
    r = c.post("/api/sms/receipts/twilio", data=form, headers={"X-Twilio-Signature": sig})
    assert r.status_code == 200
    n = notice(sessions, nid)
    assert n.status == "paper_required" and "30003" in (n.last_error or "")
