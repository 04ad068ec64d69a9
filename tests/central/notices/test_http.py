"""HTTP gateways against local HTTP servers that check each request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from central.notices.config import HttpGatewaySettings, TwilioSettings
from central.notices.providers.http import (
    HttpGatewayProvider,
    TwilioProvider,
    receipt_from_gateway_callback,
    receipt_from_twilio_callback,
    twilio_signature,
)
from central.notices.receipts import apply_receipt
from central.notices.worker import NoticeSender
from tests.central.notices.gateway import JsonGateway, TwilioLike
from tests.central.notices.helpers import GREEK_PHONE, UK_PHONE, add_notice, fast_config, notice


@pytest.fixture
def gateway() -> Iterator[JsonGateway]:
    g = JsonGateway()
    yield g
    g.close()


@pytest.fixture
def twilio() -> Iterator[TwilioLike]:
    t = TwilioLike()
    yield t
    t.close()


def gw_sender(sessions: sessionmaker[Session], gw: JsonGateway, **kw: object) -> NoticeSender:
    settings = HttpGatewaySettings(kind="http", url=gw.url, token=JsonGateway.TOKEN, timeout_s=5)
    cfg = fast_config(provider=settings, **kw)
    return NoticeSender(sessions, cfg, HttpGatewayProvider(settings))


def test_json_gateway_request_and_callback_receipt(
    sessions: sessionmaker[Session], gateway: JsonGateway
) -> None:
    nid = add_notice(sessions, GREEK_PHONE)
    s = gw_sender(sessions, gateway)
    assert s.run_once().sent == 1
    assert len(gateway.sms) == 1
    msg = gateway.sms[0]
    assert msg["to"] == GREEK_PHONE and msg["sender"] == "JAYWATCH"
    assert "JW-7Q2K9" in msg["text"] and "Πρόστιμο" in msg["text"]  # Greek template, whole text
    assert gateway.requests[0]["headers"]["idempotency-key"] == f"jw-notice-{nid}-1"

    receipt = receipt_from_gateway_callback({"message_id": "gw-1", "status": "DELIVERED"})
    with sessions.begin() as db:
        assert apply_receipt(db, "http", receipt) == nid
    assert notice(sessions, nid).status == "delivered"
    with pytest.raises(ValueError, match="message_id"):
        receipt_from_gateway_callback({"status": "delivered"})


def test_json_gateway_500_after_accepting_is_retried_with_the_same_key_once(
    sessions: sessionmaker[Session], gateway: JsonGateway
) -> None:
    nid = add_notice(sessions, UK_PHONE)
    gateway.fail_after_accept = 1
    s = gw_sender(sessions, gateway)
    assert s.run_once().retry == 1
    n = notice(sessions, nid)
    assert n.status == "pending" and "same key" in (n.last_error or "")
    assert s.run_once().sent == 1
    assert len(gateway.sms) == 1, "the gateway was asked twice but must have sent one SMS"
    keys = [r["headers"]["idempotency-key"] for r in gateway.requests]
    assert keys == [f"jw-notice-{nid}-1"] * 2


def test_json_gateway_recovers_a_dead_workers_claim_without_a_second_sms(
    sessions: sessionmaker[Session], gateway: JsonGateway
) -> None:
    nid = add_notice(sessions, UK_PHONE)
    dead = gw_sender(sessions, gateway, retry={"claim_lease_s": 0.001})
    [job], _ = dead.claim()
    dead.provider.submit(job.to_e164, job.text, job.idempotency_key)  # ...and it dies here
    assert notice(sessions, nid).status == "submitting"
    s = gw_sender(sessions, gateway, retry={"claim_lease_s": 0.001})
    stats = s.run_once()
    assert stats.recovered == 1 and stats.sent == 1
    assert notice(sessions, nid).status == "sent"
    assert len(gateway.sms) == 1


def test_json_gateway_refusal_flags_paper_and_bad_token_is_not_sent(
    sessions: sessionmaker[Session], gateway: JsonGateway
) -> None:
    refused = add_notice(sessions, "+99912345678")  # not a number libphonenumber accepts
    s = gw_sender(sessions, gateway)
    s.run_once()
    n = notice(sessions, refused)
    assert n.status == "paper_required" and "phone" in (n.last_error or "")

    nid = add_notice(sessions, UK_PHONE)
    settings = HttpGatewaySettings(kind="http", url=gateway.url, token="wrong", timeout_s=5)
    bad = NoticeSender(sessions, fast_config(provider=settings), HttpGatewayProvider(settings))
    bad.run_once()
    n = notice(sessions, nid)
    assert n.status == "paper_required" and "401" in (n.last_error or "")
    assert gateway.sms == []


def test_twilio_messages_resource_and_signed_status_callback(
    sessions: sessionmaker[Session], twilio: TwilioLike
) -> None:
    nid = add_notice(sessions, UK_PHONE)
    settings = TwilioSettings(
        kind="twilio",
        account_sid=TwilioLike.SID,
        auth_token=TwilioLike.TOKEN,
        **{"from": "+15005550006"},
        status_callback="https://jaywatch.example.org/api/sms/twilio-status",
        base_url=f"http://127.0.0.1:{twilio.port}",
    )
    s = NoticeSender(sessions, fast_config(provider=settings), TwilioProvider(settings))
    assert s.run_once().sent == 1
    [form] = twilio.sms
    assert form["To"] == UK_PHONE and form["From"] == "+15005550006"
    assert form["StatusCallback"] == settings.status_callback
    assert "JW-7Q2K9" in form["Body"] and form["Body"].startswith("Red-light crossing")

    params = {"MessageSid": f"SM{1:032x}", "MessageStatus": "delivered", "To": UK_PHONE}
    sig = twilio_signature(TwilioLike.TOKEN, settings.status_callback or "", params)
    with pytest.raises(ValueError, match="Signature"):
        receipt_from_twilio_callback(
            TwilioLike.TOKEN, settings.status_callback or "", params, "forged"
        )
    receipt = receipt_from_twilio_callback(
        TwilioLike.TOKEN, settings.status_callback or "", params, sig
    )
    with sessions.begin() as db:
        assert apply_receipt(db, "twilio", receipt) == nid
    assert notice(sessions, nid).status == "delivered"


def test_twilio_500_is_not_resubmitted(sessions: sessionmaker[Session], twilio: TwilioLike) -> None:
    nid = add_notice(sessions, UK_PHONE)
    twilio.fail_after_accept = 1
    settings = TwilioSettings(
        kind="twilio",
        account_sid=TwilioLike.SID,
        auth_token=TwilioLike.TOKEN,
        messaging_service_sid="MG123",
        base_url=f"http://127.0.0.1:{twilio.port}",
    )
    s = NoticeSender(sessions, fast_config(provider=settings), TwilioProvider(settings))
    assert s.run_once().check == 1
    assert s.run_once().claimed == 0
    assert notice(sessions, nid).status == "check_required"
    assert len(twilio.sms) == 1
