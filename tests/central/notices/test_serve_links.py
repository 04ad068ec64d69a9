"""The shipped configs end to end: ``jaywatch central serve`` from
config/central.example.yaml + config/notices.example.yaml (only paths, ports and the
provider's address changed) sends a real notice through an HTTP gateway and a
Twilio-compatible one; the link in the SMS opens the notice page; the provider's signed
delivery receipt marks the notice delivered, forged, unsigned and replayed ones get 403
and change nothing."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml

from central.notices.api import http_signature
from central.notices.providers.http import twilio_signature
from central.store.models import Notice
from tests.central.helpers import add_device
from tests.central.notices.gateway import JsonGateway, TwilioLike
from tests.integration.central_serve import CentralServe, acl_broker
from tests.services import Broker

REPO = Path(__file__).resolve().parents[3]
SECRET = "receipt-secret-0123456789"
TWILIO_CALLBACK = "https://jaywatch.example.org/api/sms/receipts/twilio"


@pytest.fixture(params=["http", "twilio"])
def gateway(request: pytest.FixtureRequest) -> Iterator[JsonGateway | TwilioLike]:
    gw: JsonGateway | TwilioLike = JsonGateway() if request.param == "http" else TwilioLike()
    yield gw
    gw.close()


def notices_yaml(tmp: Path, port: int, gw: JsonGateway | TwilioLike) -> Path:
    """The shipped notices config with the provider block of the gateway (its address
    local) and notice_url on this test's port."""
    cfg: dict[str, Any] = yaml.safe_load((REPO / "config" / "notices.example.yaml").read_text())
    if isinstance(gw, JsonGateway):
        cfg["provider"] = {
            "kind": "http", "url": gw.url, "token": gw.TOKEN, "callback_secret": SECRET,
        }  # fmt: skip
    else:
        cfg["provider"] = {
            "kind": "twilio", "account_sid": gw.SID, "auth_token": gw.TOKEN,
            "from": "+15005550006", "status_callback": TWILIO_CALLBACK,
            "base_url": f"http://127.0.0.1:{gw.port}",
        }  # fmt: skip
    assert cfg["notice_url"] == "https://jaywatch.example.org/n/{reference}"  # shipped
    cfg["notice_url"] = f"http://127.0.0.1:{port}/n/{{reference}}"
    path = tmp / "notices.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return path


@pytest.fixture
def central(
    tmp_path: Path, db_url: str, make_broker: Callable[..., Broker], gateway: Any
) -> Iterator[CentralServe]:
    srv = CentralServe(
        tmp_path / "central",
        acl_broker(make_broker, ["gw-1"]),
        db_url,
        # about links and receipts: one confirmation issues the fine at once (four-eyes
        # and the undo window through serve: tests/integration/test_four_eyes_serve.py)
        overrides={"review": {"second_reviewer": "never", "undo_window_s": 0}},
    )
    srv.serve_args = ["--notices-config", str(notices_yaml(tmp_path, srv.port, gateway))]
    srv.setup({}, {"olive": "operator"})
    try:
        yield srv.start()
    finally:
        srv.stop()


def issue_fine(srv: CentralServe) -> str:
    """A stored violation of an enrolled person, confirmed by an operator through the API."""
    ctx = srv.context()
    try:
        key = add_device(ctx)
    finally:
        ctx.close()
    return srv.confirmed_fine(key)["reference"]


def send_notices(srv: CentralServe) -> None:
    argv = [sys.executable, "-m", "jaywatch_app.cli", "central", "--config", str(srv.config)]
    argv += ["notices", "send", "--once", *srv.serve_args]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def notice_status(srv: CentralServe) -> str:
    ((status,),) = srv.rows(sa.select(Notice.status).where(Notice.kind == "fine_issued"))
    return status


def post_http_receipt(srv: CentralServe, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Jaywatch-Signature"] = signature
    return httpx.post(f"{srv.url}/api/sms/receipts/http", content=body, headers=headers)


def post_twilio_receipt(
    srv: CentralServe, form: dict[str, str], signature: str | None
) -> httpx.Response:
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    return httpx.post(f"{srv.url}/api/sms/receipts/twilio", data=form, headers=headers)


def test_sms_link_opens_the_notice_and_signed_receipt_delivers(
    central: CentralServe, gateway: JsonGateway | TwilioLike
) -> None:
    reference = issue_fine(central)
    send_notices(central)
    assert len(gateway.sms) == 1
    text = gateway.sms[0]["text" if isinstance(gateway, JsonGateway) else "Body"]
    assert "1 points" not in text and re.search(r"\b\d+ points?\b", text), text
    assert notice_status(central) == "sent"

    # The link in the SMS, as the phone opens it.
    (link,) = re.findall(r"https?://\S+", text)
    assert link == f"{central.url}/n/{reference}"
    page = httpx.get(link, timeout=30)
    assert page.status_code == 200
    assert f'value="{reference}"' in page.text and 'name="code"' in page.text
    code = re.search(r"code ([A-Z0-9]+)", text)
    assert code is not None
    opened = httpx.post(
        f"{central.url}/notice", data={"reference": reference, "code": code.group(1)}, timeout=30
    )
    assert opened.status_code == 200 and reference in opened.text
    # An unknown reference gets the very same page: the link is no oracle.
    other = httpx.get(f"{central.url}/n/JW-ZZZZ-ZZZZ", timeout=30)
    assert other.status_code == 200
    assert other.text.replace("JW-ZZZZ-ZZZZ", reference) == page.text

    if isinstance(gateway, JsonGateway):
        body = b'{"message_id": "gw-1", "status": "delivered"}'
        now = int(time.time())
        forged = http_signature("not-the-secret-at-all", now, body)
        assert post_http_receipt(central, body, None).status_code == 403
        assert post_http_receipt(central, body, forged).status_code == 403
        old = http_signature(SECRET, now - 3600, body)  # a recorded receipt, replayed later
        assert post_http_receipt(central, body, old).status_code == 403
        # Signed over other bytes than those sent (a flipped status).
        other_body = b'{"message_id": "gw-1", "status": "failed"}'
        resigned = http_signature(SECRET, now, body)
        assert post_http_receipt(central, other_body, resigned).status_code == 403
        assert notice_status(central) == "sent"
        ok = post_http_receipt(central, body, http_signature(SECRET, now, body))
        assert ok.status_code == 200, ok.text
        assert notice_status(central) == "delivered"
        # A late (or replayed, in the window) earlier state cannot undo a final one.
        late = b'{"message_id": "gw-1", "status": "failed"}'
        r = post_http_receipt(central, late, http_signature(SECRET, now, late))
        assert r.status_code == 200
        assert notice_status(central) == "delivered"
    else:
        sid = f"SM{1:032x}"
        form = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": gateway.SID}
        assert post_twilio_receipt(central, form, None).status_code == 403
        forged = twilio_signature("wrong-token", TWILIO_CALLBACK, form)
        assert post_twilio_receipt(central, form, forged).status_code == 403
        # A genuine signature for other parameters (status changed in flight).
        failed = {**form, "MessageStatus": "undelivered"}
        sig = twilio_signature(gateway.TOKEN, TWILIO_CALLBACK, form)
        assert post_twilio_receipt(central, failed, sig).status_code == 403
        # Signed for another URL than the configured status_callback.
        elsewhere = twilio_signature(gateway.TOKEN, f"{central.url}/api/sms/receipts/twilio", form)
        assert post_twilio_receipt(central, form, elsewhere).status_code == 403
        assert notice_status(central) == "sent"
        ok = post_twilio_receipt(central, form, sig)
        assert ok.status_code == 200, ok.text
        assert notice_status(central) == "delivered"
        # Twilio's "sent" callback arriving (or replayed) after "delivered" changes nothing.
        sent = {**form, "MessageStatus": "sent"}
        resent = twilio_signature(gateway.TOKEN, TWILIO_CALLBACK, sent)
        r = post_twilio_receipt(central, sent, resent)
        assert r.status_code == 200
        assert notice_status(central) == "delivered"
        ((state,),) = central.rows(sa.text("SELECT state FROM notice_parts"))
        assert state == "delivered"
