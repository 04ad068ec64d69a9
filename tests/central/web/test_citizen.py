"""Citizen notice page: open with reference + code, no enumeration, pay, appeal."""

from __future__ import annotations

import re

import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.store.models import Appeal, DisplayEntry, Fine
from central.web.citizen import WRONG
from central.workflow import payments
from central.workflow.common import Actor
from tests.central.web.util import confirm, login
from tests.central.web.world import World, build_world


def _fine(world: World, client: TestClient) -> tuple[str, str]:
    eid = world.ingest()
    login(client, "olive")
    ref = confirm(client, eid)
    client.cookies.clear()
    return ref, world.access_code(ref)


def test_open_notice_shows_the_fine_and_evidence(world: World, client: TestClient) -> None:
    ref, code = _fine(world, client)
    r = client.post("/notice", data={"reference": ref, "code": code.lower()})
    assert r.status_code == 200
    html = r.text
    for text in ("Pedestrian crossing against a red", "EUR 30.00", "Main St / 5th Ave", "11 of 12"):
        assert text in html
    assert len(re.findall(r'src="data:image/jpeg;base64,', html)) == 3
    assert code not in str(r.url)  # the code travels in the POST body only


def test_wrong_code_and_unknown_reference_look_the_same(world: World, client: TestClient) -> None:
    ref, code = _fine(world, client)
    wrong = client.post("/notice", data={"reference": ref, "code": "AAAAAAAAAA"})
    unknown = client.post("/notice", data={"reference": "JW-ZZZZ-ZZZZ", "code": code})
    assert wrong.status_code == unknown.status_code == 403
    assert WRONG in wrong.text
    # Identical pages apart from the reference the visitor typed in.
    assert wrong.text.replace(ref, "X") == unknown.text.replace("JW-ZZZZ-ZZZZ", "X")
    for r in (wrong, unknown):
        assert "EUR" not in r.text and "Main St" not in r.text


def test_sms_link_fills_the_reference_and_is_no_oracle(world: World, client: TestClient) -> None:
    ref, _code = _fine(world, client)
    known = client.get(f"/n/{ref}")
    unknown = client.get("/n/JW-ZZZZ-ZZZZ")
    assert known.status_code == unknown.status_code == 200
    assert f'value="{ref}"' in known.text and 'name="code"' in known.text
    assert known.text.replace(ref, "X") == unknown.text.replace("JW-ZZZZ-ZZZZ", "X")
    # Not a reference at all: the empty form, nothing of the input echoed.
    junk = client.get("/n/%3Cscript%3Ealert(1)%22%00")
    assert junk.status_code == 200 and "<script>alert" not in junk.text
    assert 'value=""' in junk.text


def test_sms_links_share_the_public_rate_limit(tmp_path) -> None:
    w = build_world(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, rate=5)
    try:
        c = TestClient(w.app)
        codes = [c.get(f"/n/JW-A{i}").status_code for i in range(4)]
        codes += [c.post("/notice", data={"reference": "JW-A", "code": "B"}).status_code]
        codes += [c.get("/n/JW-B").status_code]
        assert codes == [200] * 4 + [403, 429]
    finally:
        w.web.hub.stop()
        w.ctx.close()


def test_lookups_are_rate_limited(tmp_path) -> None:
    w = build_world(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, rate=5)
    try:
        c = TestClient(w.app)
        codes = [
            c.post("/notice", data={"reference": "JW-A", "code": "B"}).status_code for _ in range(7)
        ]
        assert codes == [403] * 5 + [429] * 2
        assert "Too many attempts" in c.post("/notice", data={"reference": "x", "code": "y"}).text
    finally:
        w.web.hub.stop()
        w.ctx.close()


def test_a_citizen_cannot_mark_a_fine_paid(world: World, client: TestClient) -> None:
    """No "I have paid": the old self-declared reference does nothing, and without a
    payment provider "Pay now" is not offered (the page says how to pay instead)."""
    ref, code = _fine(world, client)
    page = client.post("/notice", data={"reference": ref, "code": code}).text
    assert "I have paid" not in page and 'name="payment_ref"' not in page
    assert 'id="pay-now"' not in page  # no provider in this world
    r = client.post("/notice/pay", data={"reference": ref, "code": code, "payment_ref": "BANK-1"})
    assert r.status_code == 409 and "bank transfer" in r.text
    bad = client.post("/notice/pay", data={"reference": ref, "code": "WRONG"})
    assert bad.status_code == 403
    with world.ctx.sessions() as s:
        fine = s.execute(sa.select(Fine).where(Fine.reference == ref)).scalar_one()
        entry = s.execute(sa.select(DisplayEntry)).scalar_one()
    assert fine.status == "issued" and fine.payment_ref is None and fine.paid_cents == 0
    assert entry.withdrawn_at is None


def test_a_cashiers_payment_closes_the_notice_and_the_screen_follows(
    world: World, client: TestClient
) -> None:
    ref, code = _fine(world, client)
    cashier = Actor("cam", "cashier", user_id=None)
    with world.ctx.sessions.begin() as s:
        part = payments.record_staff_payment(s, cashier, ref, 1000, "EUR", "R-1")
    assert part.payment.outcome == "partial" and part.adjustment.amount_cents == 2000
    page = client.post("/notice", data={"reference": ref, "code": code}).text
    assert "Paid so far: EUR 10.00. Still to pay: EUR 20.00." in page
    with world.ctx.sessions.begin() as s:
        rest = payments.record_staff_payment(s, cashier, ref, 2000, "EUR", "R-2")
    assert rest.fine.status == "paid"
    r = client.post("/notice", data={"reference": ref, "code": code})
    assert "Paid" in r.text and 'action="/notice/pay"' not in r.text
    with world.ctx.sessions() as s:
        entry = s.execute(sa.select(DisplayEntry)).scalar_one()
    assert entry.withdrawn_at is not None
    items = client.get("/display/gw-main/feed.json").json()["items"]
    assert [i["item_id"] for i in items] == []


def test_appeal_once(world: World, client: TestClient) -> None:
    ref, code = _fine(world, client)
    r = client.post(
        "/notice/appeal", data={"reference": ref, "code": code, "statement": "I was not there."}
    )
    assert r.status_code == 200 and "appeal has been received" in r.text
    assert 'action="/notice/appeal"' not in r.text  # no second appeal form
    twice = client.post("/notice/appeal", data={"reference": ref, "code": code, "statement": "x"})
    assert twice.status_code == 409 and "an appeal is already submitted" in twice.text
    with world.ctx.sessions() as s:
        (a,) = s.execute(sa.select(Appeal)).scalars()
    assert a.grounds == "I was not there." and a.status == "pending"
