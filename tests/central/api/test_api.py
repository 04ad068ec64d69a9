"""The REST API: roles on every endpoint, sessions + CSRF, the citizen flow, no enumeration."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.api.app import create_app
from central.auth.roles import STAFF as ROLES
from central.config import ApiSettings, HttpSettings, RateRule
from central.context import Context
from central.ingest.classify import Incoming, KeyCache, classify
from central.ingest.store import load_device_keys, store_batch
from central.store.models import DisplayEntry, Notice
from central.workflow import notice_access
from central.workflow.common import SYSTEM
from central.workflow.users import create_user
from jaywatch import wire
from tests.central.helpers import make_context, roomy_limits, violation

PASSWORD = "correct horse battery"


@pytest.fixture
def ctx(db_url: str, tmp_path: Path) -> Iterator[Context]:
    c = make_context(
        db_url,
        tmp_path,
        api=ApiSettings(secure_cookies=False),
        http=roomy_limits(),
    )
    with c.sessions.begin() as s:
        for role in ROLES:
            create_user(s, SYSTEM, role, PASSWORD, role)
    yield c
    c.close()


@pytest.fixture
def announced() -> list[wire.GalleryAnnouncement]:
    return []


@pytest.fixture
def client(ctx: Context, announced: list) -> TestClient:
    return TestClient(create_app(ctx, announce_gallery=announced.append))


def token(client: TestClient, role: str) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": role, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def ingest(ctx: Context, ev: wire.ViolationEvent) -> None:
    def keys() -> dict[str, bytes]:
        with ctx.sessions() as s:
            return load_device_keys(s)

    c = classify(
        Incoming(wire.violation_topic(ev.device_id), ev.model_dump_json().encode()),
        KeyCache(keys),
        10**7,
    )
    with ctx.sessions.begin() as s:
        assert store_batch(s, [c], ctx.evidence, 1024)[0].status == "stored"


# (method, path, body, roles allowed)
ENDPOINTS = [
    ("GET", "/api/review/queue", None, {"operator", "supervisor"}),
    ("GET", "/api/appeals", None, {"supervisor"}),
    ("GET", "/api/devices", None, {"operator", "supervisor", "admin"}),
    ("GET", "/api/dead-letters", None, {"admin", "auditor"}),
    ("GET", "/api/quarantine", None, {"admin", "supervisor", "auditor"}),
    ("GET", "/api/audit", None, {"auditor", "admin"}),
    ("GET", "/api/audit/verify", None, {"auditor", "admin"}),
    ("GET", "/api/audit/export.json", None, {"auditor", "admin"}),
    ("GET", "/api/dashboard", None, {"operator", "supervisor", "auditor", "admin"}),
    ("GET", "/api/exports/events.csv", None, {"supervisor", "auditor", "admin"}),
    ("GET", "/api/exports/fines.csv", None, {"supervisor", "auditor", "admin"}),
    ("POST", "/api/dead-letters/1/requeue", None, {"admin"}),
    ("POST", "/api/dead-letters/1/discard", {"note": ""}, {"admin"}),
    ("POST", "/api/quarantine/nope/release", {"note": "x"}, {"admin"}),
    ("POST", "/api/quarantine/nope/discard", {"note": ""}, {"admin"}),
    (
        "POST",
        "/api/persons",
        {"phone": "+447400123456", "lawful_basis": "statute"},
        {"supervisor", "admin"},
    ),
    (
        "POST",
        "/api/payments",
        {"reference": "JW-NONE", "amount_cents": 1, "currency": "EUR", "receipt_no": "R-1"},
        {"cashier", "supervisor"},
    ),
    ("GET", "/api/payments/open", None, {"supervisor", "admin"}),
    (
        "POST",
        "/api/payments/adjustments/1/settle",
        {"resolution": "refunded", "note": "n"},
        {"supervisor"},
    ),
    ("POST", "/api/payments/statement-lines/1/assign", {"reference": "JW-NONE"}, {"supervisor"}),
    ("POST", "/api/events/00000000-0000-0000-0000-000000000000/confirm", None, {"operator"}),
    (
        "POST",
        "/api/events/00000000-0000-0000-0000-000000000000/dismiss",
        {"reason": "other"},
        {"operator"},
    ),
    ("POST", "/api/appeals/1/decide", {"uphold": True}, {"supervisor"}),
    ("POST", "/api/appeals/1/review", None, {"supervisor"}),
    ("GET", "/api/appeals/1", None, {"supervisor"}),
    ("GET", "/api/appeals/1/attachments/1", None, {"supervisor"}),
    ("GET", "/api/persons/nobody", None, {"operator", "supervisor", "auditor", "admin"}),
    ("DELETE", "/api/persons/nobody", None, {"supervisor", "admin"}),
    (
        "GET",
        "/api/events/00000000-0000-0000-0000-000000000000",
        None,
        {"operator", "supervisor", "auditor"},
    ),
]


def test_every_endpoint_checks_the_role(client: TestClient) -> None:
    headers = {role: token(client, role) for role in ROLES}
    for method, path, body, allowed in ENDPOINTS:
        r = client.request(method, path, json=body)
        assert r.status_code == 401, (method, path)  # nobody logged in
        for role in ROLES:
            r = client.request(method, path, json=body, headers=headers[role])
            if role in allowed:
                assert r.status_code not in (401, 403), (method, path, role, r.text)
                assert r.status_code < 500
            else:
                assert r.status_code == 403, (method, path, role, r.status_code)


def test_cookie_sessions_need_the_csrf_token(client: TestClient) -> None:
    r = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
    csrf = r.json()["csrf_token"]
    body = {"phone": "+447400123456", "lawful_basis": "statute"}
    assert client.get("/api/devices").status_code == 200  # safe method: cookie is enough
    assert client.post("/api/persons", json=body).status_code == 403
    assert (
        client.post("/api/persons", json=body, headers={"X-CSRF-Token": "forged"}).status_code
        == 403
    )
    assert client.post("/api/persons", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    assert (
        client.post("/api/auth/login", json={"username": "admin", "password": "nope"}).status_code
        == 401
    )


def test_review_fine_notice_pay_and_appeal_through_the_api(
    client: TestClient, ctx: Context, announced: list
) -> None:
    admin, op, sup = token(client, "admin"), token(client, "operator"), token(client, "supervisor")
    key = wire.generate_device_key()
    r = client.post(
        "/api/devices",
        json={
            "device_id": "gw-9",
            "public_key": wire.public_key_bytes(key).hex(),
            "cameras": {"cam-1": "Elm Rd"},
        },
        headers=admin,
    )
    assert r.status_code == 201 and "topic write jaywatch/v1/gw-9/violation" in r.json()["acl"]
    people = [
        client.post(
            "/api/persons",
            json={"phone": "07400 123456", "lawful_basis": "statute", "name": n},
            headers=sup,
        ).json()
        for n in ("Ann", "Bob")
    ]
    assert people[0]["phone"] == "+447400123456"
    assert announced == []  # enrolment alone changes no edge gallery: uploads do
    bad = client.post("/api/persons", json={"phone": "12", "lawful_basis": "statute"}, headers=sup)
    assert bad.status_code == 422 and "phone" in bad.json()["detail"]

    evs = [violation(key, "gw-9", person_id=p["id"]) for p in people]
    for ev in evs:
        ingest(ctx, ev)
    queue = client.get("/api/review/queue", headers=op).json()
    assert [q["event_id"] for q in queue] == [
        e.event_id for e in evs
    ]  # oldest first... same time: by id
    img = client.get(f"/api/events/{evs[0].event_id}/evidence/0", headers=op)
    assert img.headers["content-type"] == "image/jpeg" and img.content.startswith(b"\xff\xd8")

    fines = [
        client.post(f"/api/events/{e.event_id}/confirm", headers=op).json()["fine"] for e in evs
    ]
    assert all(f["status"] == "issued" and f["amount_cents"] == 3000 for f in fines)
    assert client.post(f"/api/events/{evs[0].event_id}/confirm", headers=op).status_code == 409
    with ctx.sessions() as s:
        codes = {
            n.params["reference"]: n.params["access_code"]
            for n in s.execute(sa.select(Notice).where(Notice.kind == "fine_issued")).scalars()
        }
    ref0, ref1 = fines[0]["reference"], fines[1]["reference"]
    display = client.get("/api/public/display").json()
    assert len(display) == 2 and not any("Ann" in str(d) or "+44" in str(d) for d in display)

    # No enumeration: wrong code and unknown reference look the same, and (like the notice
    # page: one door, central/workflow/notice_access.py) each failure takes the minimum time.
    t0 = time.monotonic()
    wrong_code = client.post("/api/public/notice", json={"reference": ref0, "code": "WRONGCODE1"})
    assert time.monotonic() - t0 >= notice_access.FAIL_MIN_S
    unknown = client.post(
        "/api/public/notice", json={"reference": "JW-AAAA-AAAA", "code": codes[ref0]}
    )
    assert wrong_code.status_code == unknown.status_code == 403
    assert wrong_code.json() == unknown.json()
    n = client.post("/api/public/notice", json={"reference": ref0, "code": codes[ref0]}).json()
    assert n["status"] == "issued" and n["place"] == "Elm Rd"

    # The holder of a notice cannot mark it paid (no such door); without a provider
    # configured there is no checkout either. A cashier records fine 0 (twice: idempotent
    # on the receipt number); appeal fine 1 and win.
    holder = {"reference": ref0, "code": codes[ref0]}
    self_declared = {**holder, "payment_ref": "PSP-1", "amount_cents": 3000}
    assert client.post("/api/public/pay", json=self_declared).status_code in (404, 405)
    assert client.post("/api/public/checkout", json=holder).status_code == 503
    cashier = token(client, "cashier")
    pay = {"reference": ref0, "amount_cents": 3000, "currency": "EUR", "receipt_no": "R-0001"}
    first = client.post("/api/payments", json=pay, headers=cashier).json()
    assert first["newly_recorded"] is True and first["status"] == "paid"
    assert client.post("/api/payments", json=pay, headers=cashier).json()["newly_recorded"] is False
    a = client.post(
        "/api/public/appeal", json={"reference": ref1, "code": codes[ref1], "grounds": "Not me."}
    )
    assert a.status_code == 201
    assert [x["id"] for x in client.get("/api/appeals", headers=sup).json()] == [a.json()["id"]]
    d = client.post(
        f"/api/appeals/{a.json()['id']}/decide",
        json={"uphold": True, "note": "Wrong person."},
        headers=sup,
    )
    assert d.json()["status"] == "upheld"
    assert client.get("/api/public/display").json() == []  # both cleared at once
    with ctx.sessions() as s:
        assert (
            s.execute(
                sa.select(sa.func.count()).where(DisplayEntry.withdrawn_at.is_(None))
            ).scalar()
            == 0
        )
    assert client.get(f"/api/persons/{people[1]['id']}", headers=op).json()["score"] == 12

    # Erasure: gone from the next gallery version; audit log holds every step and verifies.
    from tests.central.gallery.test_snapshots import synthetic

    snap = synthetic({people[0]["id"]: 1, people[1]["id"]: 1}).to_bytes()
    up = client.post("/api/gallery", content=snap, headers=token(client, "admin"))
    assert up.status_code == 201 and announced[-1].version == "1", up.text
    er = client.delete(f"/api/persons/{people[0]['id']}", headers=sup)
    assert er.json()["version"] == 2 and announced[-1].version == "2"
    aud = token(client, "auditor")
    actions = [e["action"] for e in client.get("/api/audit?limit=1000", headers=aud).json()]
    for must in (
        "event.confirm",
        "evidence.read",
        "review.list",
        "notice.read",
        "fine.pay",
        "appeal.uphold",
        "person.erase",
        "person.read",
    ):
        assert must in actions, must
    assert client.get("/api/audit/verify", headers=aud).json()["ok"] is True


def test_public_endpoints_are_rate_limited(db_url: str, tmp_path: Path) -> None:
    rule = RateRule(limit=5, period_s=60)
    ctx = make_context(db_url, tmp_path, http=HttpSettings(public_per_address=rule))
    try:
        client = TestClient(create_app(ctx))
        answers = [
            client.post("/api/public/notice", json={"reference": f"JW-{i}", "code": "X"})
            for i in range(8)
        ]
        assert [r.status_code for r in answers] == [403] * 5 + [429] * 3
        assert 1 <= int(answers[-1].headers["retry-after"]) <= 12  # one more in 60/5 s
    finally:
        ctx.close()


@pytest.mark.timeout(25)  # under the 30 s busy timeout: a probe that waits for the lock fails
def test_health_does_not_wait_for_sqlites_write_lock(tmp_path: Path) -> None:
    """A long write holds SQLite's write lock; the health probe must still answer (a
    session's BEGIN IMMEDIATE would wait out the busy timeout and report a false outage)."""
    ctx = make_context(f"sqlite:///{tmp_path / 'jaywatch.db'}", tmp_path)
    try:
        client = TestClient(create_app(ctx))
        with ctx.engine.connect() as writer, writer.begin():  # BEGIN IMMEDIATE, held
            other = sa.create_engine(f"sqlite:///{tmp_path / 'jaywatch.db'}")
            try:  # the lock really is held: a second writer is refused at once
                with (
                    pytest.raises(sa.exc.OperationalError, match="locked"),
                    other.connect() as c,
                ):
                    c.exec_driver_sql("PRAGMA busy_timeout=0")
                    c.exec_driver_sql("BEGIN IMMEDIATE")
            finally:
                other.dispose()
            r = client.get("/api/health")
        assert r.status_code == 200, r.text
        assert r.json()["database"] == "ok"
    finally:
        ctx.close()
