"""Payments through ``jaywatch central serve`` (config/central.example.yaml; only paths,
ports, the provider's address and its secret file changed), on SQLite and PostgreSQL:
the citizen's "Pay now" through the local fake provider, which signs real webhooks;
forged, stale, replayed and duplicate deliveries; part and over payments; a payment
after a void; bank statements (CSV and camt.053) imported with the CLI; a cashier's
payment; a supervisor settling what is owed back. Every check reads what central stored."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import sqlalchemy.orm

from central.payments.fake import FakeProvider
from central.store.models import (
    AuditEntry,
    DeadLetter,
    DisplayEntry,
    Fine,
    Notice,
    Payment,
    PaymentAdjustment,
    StatementLine,
    User,
)
from central.workflow import appeals
from central.workflow.users import actor_of
from tests.central.helpers import add_device
from tests.integration.central_serve import CentralServe, acl_broker
from tests.services import PAYMENTS_WEBHOOK_SECRET, Broker

REPO = Path(__file__).resolve().parents[3]
DATA = Path(__file__).parent / "data"


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    fp = FakeProvider(PAYMENTS_WEBHOOK_SECRET, webhook_url="http://127.0.0.1:9/unset").start()
    yield fp
    fp.stop()


@pytest.fixture
def central(
    tmp_path: Path, db_url: str, make_broker: Callable[..., Broker], fake: FakeProvider
) -> Iterator[CentralServe]:
    srv = CentralServe(
        tmp_path / "central",
        acl_broker(make_broker, ["gw-1"]),
        db_url,
        payments_api_url=fake.url,
        # one operator, fined at once: this test is about the money after the fine
        overrides={"review": {"second_reviewer": "never", "undo_window_s": 0}},
    )
    fake.webhook_url = f"{srv.url}/api/payments/webhook"
    srv.setup({}, {"olive": "operator", "sam": "supervisor", "cam": "cashier", "ada": "admin"})
    ctx = srv.context()
    try:
        srv.device_key = add_device(ctx)
    finally:
        ctx.close()
    try:
        yield srv.start()
    finally:
        srv.stop()


def issue(srv: CentralServe, phone: str = "+44 7911 123456") -> tuple[str, str, int]:
    """A confirmed fine of a newly enrolled person: (reference, access code, cents)."""
    f = srv.confirmed_fine(srv.device_key, phone)
    ref = f["reference"]
    ((params,),) = srv.rows(
        sa.select(Notice.params)
        .where(Notice.kind == "fine_issued")
        .order_by(Notice.id.desc())
        .limit(1)
    )
    assert params["reference"] == ref
    return ref, params["access_code"], f["amount_cents"]


def fine(srv: CentralServe, ref: str) -> Fine:
    eng = sa.create_engine(srv.db_url)
    try:
        with sa.orm.Session(eng, expire_on_commit=False) as s:
            f = s.execute(sa.select(Fine).where(Fine.reference == ref)).scalar_one()
            s.expunge(f)
            return f
    finally:
        eng.dispose()


def adjustments(srv: CentralServe, ref: str) -> list[tuple[str, int, str]]:
    rows = srv.rows(
        sa.select(PaymentAdjustment.kind, PaymentAdjustment.amount_cents, PaymentAdjustment.status)
        .join(Fine, Fine.id == PaymentAdjustment.fine_id)
        .where(Fine.reference == ref)
        .order_by(PaymentAdjustment.id)
    )
    return [tuple(r) for r in rows]


def checkout(srv: CentralServe, ref: str, code: str) -> str:
    """The citizen presses "Pay now": central redirects to the provider; the session id."""
    r = httpx.post(f"{srv.url}/notice/pay", data={"reference": ref, "code": code}, timeout=30)
    assert r.status_code == 303, r.text
    m = re.fullmatch(r"http://127\.0\.0\.1:\d+/checkout/(cs_fake_[0-9a-f]+)", r.headers["location"])
    assert m, r.headers["location"]
    return m.group(1)


def test_pay_now_through_the_provider_and_every_bad_webhook(
    central: CentralServe, fake: FakeProvider
) -> None:
    srv = central
    ref, code, cents = issue(srv)
    page = httpx.post(f"{srv.url}/notice", data={"reference": ref, "code": code}, timeout=30)
    assert 'id="pay-now"' in page.text and "I have paid" not in page.text
    assert 'id="bank-reference" dir="ltr">' + ref in page.text
    assert "GB33BUKB20201555555555" in page.text

    # Pay now → the provider's page → pay → signed webhook → back on the notice link.
    with httpx.Client(timeout=30, follow_redirects=False) as browser:
        r = browser.post(f"{srv.url}/notice/pay", data={"reference": ref, "code": code})
        assert r.status_code == 303
        provider_page = browser.get(r.headers["location"])
        assert provider_page.status_code == 200 and "Pay EUR 30.00" in provider_page.text
        sid = r.headers["location"].rsplit("/", 1)[1]
        paid = browser.post(f"{fake.url}/checkout/{sid}/pay", data={"amount": str(cents)})
        assert (
            paid.status_code == 303
            and paid.headers["location"] == f"{srv.url}/n/{ref}?payment=done"
        )
        back = browser.get(paid.headers["location"])
        assert back.status_code == 200 and "once the payment service confirms it" in back.text
    (delivery,) = fake.deliveries
    assert delivery.status_code == 200, delivery.response
    f = fine(srv, ref)
    assert (f.status, f.paid_cents) == ("paid", cents)
    (pay,) = srv.rows(
        sa.select(Payment.channel, Payment.provider, Payment.outcome).where(Payment.fine_id == f.id)
    )
    assert tuple(pay) == ("checkout", "hosted", "paid")
    ((withdrawn,),) = srv.rows(
        sa.select(DisplayEntry.withdrawn_at).where(DisplayEntry.fine_id == f.id)
    )
    assert withdrawn is not None
    sms = srv.rows(
        sa.select(Notice.params).where(Notice.fine_id == f.id, Notice.kind == "payment_received")
    )
    assert [p["amount"] for (p,) in sms] == ["EUR 30.00"]

    # Replayed within the tolerance (the same bytes and signature), and the same payment
    # delivered again as a new event: recorded once.
    again = fake.deliver(delivery.body, delivery.header)
    assert again.status_code == 200 and json.loads(again.response)["new"] is False
    event = json.loads(delivery.body)
    event["id"] = "evt_redelivered"
    dup = fake.deliver(json.dumps(event).encode())
    assert dup.status_code == 200 and json.loads(dup.response)["new"] is False
    assert len(srv.rows(sa.select(Payment.id))) == 1
    assert len(srv.rows(sa.select(Notice.id).where(Notice.kind == "payment_received"))) == 1

    # Forged (wrong secret, no signature, signature of other bytes) and stale (replayed
    # after the tolerance): 403, nothing changes, each kept as a dead letter.
    ref2, code2, cents2 = issue(srv, "+44 7911 123457")
    sid2 = checkout(srv, ref2, code2)
    body = fake.event(fake.sessions[sid2])
    forged = FakeProvider(b"not-the-shared-secret-0123456789", fake.webhook_url)
    bad = [
        fake.deliver(body, forged.sign(body)),
        fake.deliver(body, ""),
        fake.deliver(body, fake.sign(body.replace(b'"paid"', b'"pa1d"'))),
        fake.deliver(body, fake.sign(body, timestamp=int(time.time()) - 3600)),
        fake.deliver(body, "t=abc,v1=00"),
    ]
    assert [d.status_code for d in bad] == [403] * 5, [d.response for d in bad]
    assert "timestamp" in bad[3].response and "does not match" in bad[0].response
    assert fine(srv, ref2).status == "issued" and fine(srv, ref2).paid_cents == 0
    letters = srv.rows(sa.select(DeadLetter.topic, DeadLetter.reason))
    assert len(letters) == 1 and letters[0][0] == "payments/webhook/hosted"  # same bytes: one row
    # Signed but not an event: 422, dead-lettered; central keeps serving.
    junk = fake.deliver(b"\x00\xff not json")
    assert junk.status_code == 422 and srv.health().status_code == 200
    assert len(srv.rows(sa.select(DeadLetter.id))) == 2

    # Part payment: a balance due; the rest pays it and closes the balance.
    part = fake.complete(sid2, amount_cents=1000)
    assert json.loads(part.response)["outcome"] == "partial"
    assert adjustments(srv, ref2) == [("balance_due", cents2 - 1000, "open")]
    page = httpx.post(f"{srv.url}/notice", data={"reference": ref2, "code": code2}, timeout=30)
    assert f"Still to pay: EUR {(cents2 - 1000) / 100:.2f}" in page.text
    rest = fake.complete(checkout(srv, ref2, code2))  # the new session asks for the rest
    assert json.loads(rest.response)["outcome"] == "paid"
    assert fine(srv, ref2).status == "paid"
    assert adjustments(srv, ref2) == [("balance_due", cents2 - 1000, "covered")]

    # Overpaid: paid, and the excess owed back.
    ref3, code3, cents3 = issue(srv, "+44 7911 123458")
    over = fake.complete(checkout(srv, ref3, code3), amount_cents=cents3 + 500)
    assert json.loads(over.response)["outcome"] == "overpaid"
    assert fine(srv, ref3).status == "paid"
    assert adjustments(srv, ref3) == [("refund_due", 500, "open")]

    # Paid after the fine was voided on appeal: owed back in full; a supervisor settles it.
    ref4, code4, cents4 = issue(srv, "+44 7911 123459")
    sid4 = checkout(srv, ref4, code4)  # started before the decision
    ctx = srv.context()
    try:
        with ctx.sessions.begin() as s:
            a = appeals.submit_appeal(
                s, appeals_holder(ref4), ctx.evidence, ctx.rules, ref4, "Not me."
            )
            sam = actor_of(s.execute(sa.select(User).where(User.username == "sam")).scalar_one())
            appeals.decide_appeal(s, sam, ctx.rules, a.id, True, "The camera clock was wrong.")
    finally:
        ctx.close()
    late = fake.complete(sid4)
    assert json.loads(late.response)["outcome"] == "not_due"
    f4 = fine(srv, ref4)
    assert (f4.status, f4.paid_cents) == ("void", 0)
    assert adjustments(srv, ref4) == [("refund_due", cents4, "open")]
    sup = srv.bearer("sam")
    listed = httpx.get(f"{srv.url}/api/payments/open", headers=sup, timeout=30).json()
    open_ids = {a["fine_reference"]: a["id"] for a in listed["adjustments"]}
    assert set(open_ids) == {ref3, ref4}
    assert (
        httpx.get(f"{srv.url}/api/payments/open", headers=srv.bearer("cam"), timeout=30).status_code
        == 403
    )
    settle = httpx.post(
        f"{srv.url}/api/payments/adjustments/{open_ids[ref4]}/settle",
        json={"resolution": "refunded", "note": "bank transfer RF-2026-0042"},
        headers=sup,
        timeout=30,
    )
    assert settle.status_code == 200 and settle.json()["status"] == "settled"
    twice = httpx.post(
        f"{srv.url}/api/payments/adjustments/{open_ids[ref4]}/settle",
        json={"resolution": "refunded", "note": "again"}, headers=sup, timeout=30,
    )  # fmt: skip
    assert twice.status_code == 409
    ((details,),) = srv.rows(
        sa.select(AuditEntry.details).where(AuditEntry.action == "payment.settle")
    )
    assert details["note"] == "bank transfer RF-2026-0042" and details["resolution"] == "refunded"
    ((who,),) = srv.rows(sa.select(AuditEntry.actor).where(AuditEntry.action == "payment.settle"))
    assert who == "supervisor:sam"

    # The self-declared door is gone.
    gone = httpx.post(
        f"{srv.url}/api/public/pay",
        json={"reference": ref3, "code": code3, "payment_ref": "X", "amount_cents": 1}, timeout=30,
    )  # fmt: skip
    assert gone.status_code in (404, 405)


def appeals_holder(ref: str):  # type: ignore[no-untyped-def]
    from central.workflow.common import Actor

    return Actor(f"notice-holder:{ref}", "citizen")


def _cli(srv: CentralServe, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "jaywatch_app.cli", "central", "--config", str(srv.config), *args]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)


def _statement(tmp: Path, name: str, **values: str) -> Path:
    text = (DATA / name).read_text()
    for k, v in values.items():
        text = text.replace("{" + k + "}", v)
    out = tmp / name
    out.write_text(text)
    return out


def test_bank_statements_and_the_cashier(central: CentralServe, tmp_path: Path) -> None:
    srv = central
    ref_a, _, cents_a = issue(srv, "+44 7911 223456")
    ref_b, _, cents_b = issue(srv, "+44 7911 223457")
    ref_c, _, cents_c = issue(srv, "+44 7911 223458")
    csv = _statement(tmp_path, "statement.csv", AMOUNT_A=f"{cents_a / 100:.2f}", REF_A=ref_a)
    done = _cli(srv, "payments", "import", str(csv))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert (
        "5 lines: 1 matched (1 paid), 2 unmatched, 1 ambiguous, 0 imported before, 1 debits" in out
    )
    assert "UNMATCHED line 3: EUR 30.00" in out and "'Parking ticket 4471'" in out
    assert "AMBIGUOUS line 6" in out and "no notice reference found" in out
    assert fine(srv, ref_a).status == "paid"
    again = _cli(srv, "payments", "import", str(csv))
    assert "0 matched (none), 0 unmatched, 0 ambiguous, 4 imported before" in again.stdout
    assert len(srv.rows(sa.select(Payment.id))) == 1

    camt = _statement(
        tmp_path, "camt053.xml", AMOUNT_B=f"{cents_b / 100:.2f}",
        REF_B_COMPACT=ref_b.replace("-", ""), REF_C=ref_c,
    )  # fmt: skip
    done = _cli(srv, "payments", "import", str(camt))
    assert done.returncode == 0, done.stderr
    assert "4 lines: 2 matched (1 paid, 1 partial), 1 unmatched, 0 ambiguous" in done.stdout
    assert fine(srv, ref_b).status == "paid"
    assert adjustments(srv, ref_c) == [("balance_due", cents_c - 2500, "open")]
    assert "0 matched (none)" in _cli(srv, "payments", "import", str(camt)).stdout

    # Bad files: one error naming the file and the line; nothing imported.
    bad = tmp_path / "bad.csv"
    bad.write_text("date,amount,currency,reference\n2026-12-01,30,EUR,x\n2026-12-01,abc,EUR,y\n")
    r = _cli(srv, "payments", "import", str(bad))
    assert r.returncode == 2 and "bad.csv: line 3: amount" in r.stderr
    evil = tmp_path / "evil.xml"
    evil.write_text(
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>'
    )
    r = _cli(srv, "payments", "import", str(evil))
    assert r.returncode == 2 and "refused" in r.stderr

    # Unmatched lines are listed for supervisors (API) and in the CLI; one is assigned.
    sup = srv.bearer("sam")
    listed = httpx.get(f"{srv.url}/api/payments/open", headers=sup, timeout=30).json()
    lines = {x["remittance"]: x for x in listed["statement_lines"]}
    assert set(lines) == {"Parking ticket 4471", "", f"{ref_a} and JW-ZZZZ-ZZZ2", "Invoice 2026-88"}
    assert "Invoice 2026-88" in _cli(srv, "payments", "list").stdout
    assign = httpx.post(
        f"{srv.url}/api/payments/statement-lines/{lines['Invoice 2026-88']['id']}/assign",
        json={"reference": ref_c}, headers=sup, timeout=30,
    )  # fmt: skip
    # 25.00 (camt) + 30.00 for a 30.00 fine: paid, the balance covered, 25.00 owed back.
    assert assign.status_code == 200 and assign.json()["outcome"] == "overpaid"
    assert fine(srv, ref_c).status == "paid"
    assert adjustments(srv, ref_c) == [
        ("balance_due", cents_c - 2500, "covered"),
        ("refund_due", 5500 - cents_c, "open"),
    ]
    audited = srv.rows(
        sa.select(AuditEntry.actor, AuditEntry.details)
        .where(AuditEntry.action == "fine.pay", AuditEntry.target == f"fine:{ref_c}")
        .order_by(AuditEntry.seq)
    )
    assert [(a.split(":", 2)[:2], d["channel"]) for a, d in audited] == [
        (["system", "cli"], "bank"),
        (["supervisor", "sam"], "bank"),
    ]

    # The cashier takes a fine at the counter: receipt number, audited under their name.
    ref_d, _, cents_d = issue(srv, "+44 7911 223459")
    cam = srv.bearer("cam")
    body = {"reference": ref_d, "amount_cents": cents_d, "currency": "EUR", "receipt_no": "C-0007"}
    r = httpx.post(f"{srv.url}/api/payments", json=body, headers=cam, timeout=30)
    assert r.status_code == 200 and r.json()["status"] == "paid", r.text
    r2 = httpx.post(f"{srv.url}/api/payments", json=body, headers=cam, timeout=30)
    assert r2.json()["newly_recorded"] is False
    wrong = httpx.post(
        f"{srv.url}/api/payments",
        json={**body, "currency": "GBP", "receipt_no": "C-8"},
        headers=cam,
        timeout=30,
    )
    assert wrong.status_code == 422 and "the fine is in EUR" in wrong.text
    operator = httpx.post(
        f"{srv.url}/api/payments",
        json={**body, "receipt_no": "C-9"},
        headers=srv.bearer("olive"),
        timeout=30,
    )
    assert operator.status_code == 403
    audited = srv.rows(
        sa.select(AuditEntry.actor, AuditEntry.details).where(
            AuditEntry.action == "fine.pay", AuditEntry.target == f"fine:{ref_d}"
        )
    )
    assert [(a, d["channel"], d["receipt_no"]) for a, d in audited] == [
        ("cashier:cam", "staff", "C-0007")
    ]
    ((withdrawn,),) = srv.rows(
        sa.select(DisplayEntry.withdrawn_at)
        .join(Fine, Fine.id == DisplayEntry.fine_id)
        .where(Fine.reference == ref_d)
    )
    assert withdrawn is not None
    cli = _cli(srv, "payments", "record", ref_a, "--amount", "5.00", "--currency", "EUR",
               "--receipt", "C-0008", "--by", "cam")  # fmt: skip
    assert cli.returncode == 0 and "not_due" in cli.stdout and "refund_due" in cli.stdout
    assert len(srv.rows(sa.select(StatementLine.id))) == 7  # debits are not stored
