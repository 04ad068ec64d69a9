"""Retention of SMS notices (principle 7): when a closed fine's evidence is purged, its
notices keep no access code and no phone number, on SQLite and PostgreSQL. Notices are
sent by the real sender (log provider), so the rows are exactly what production writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from central.config import RetentionSettings
from central.context import Context
from central.notices.config import NoticesConfig
from central.notices.models import NoticeDelivery, NoticePart
from central.notices.providers.log import LogProvider
from central.notices.worker import NoticeSender
from central.retention import run_purge
from central.store.models import Fine, Notice
from central.workflow import payments, review
from central.workflow.common import Actor
from central.workflow.persons import enrol, erase
from tests.central.helpers import ADMIN, OPERATOR, SUPERVISOR, add_device, make_context, violation
from tests.central.workflow.test_workflow import ingest

PHONE = "+447400123456"
CLOSED_CASES = RetentionSettings(
    dead_letters_days=None,
    unidentified_events_days=None,
    dismissed_events_days=None,
    closed_fine_evidence_days=0,
    sessions_days=None,
)


@pytest.fixture
def ctx(db_url: str, tmp_path: Path) -> Iterator[Context]:
    c = make_context(db_url, tmp_path)
    yield c
    c.close()


def _send_all(ctx: Context) -> None:
    sender = NoticeSender(ctx.sessions, NoticesConfig(), LogProvider())
    sender.run_once()
    with ctx.sessions() as s:
        pending = s.execute(sa.select(Notice.status).where(Notice.status != "delivered")).all()
    assert pending == []


def _rows(ctx: Context, fine_id: int) -> dict[int, dict[str, object]]:
    """Every stored field of each notice of ``fine_id`` (outbox, delivery, parts)."""
    out: dict[int, dict[str, object]] = {}
    with ctx.sessions() as s:
        for n in s.execute(sa.select(Notice).where(Notice.fine_id == fine_id)).scalars():
            d = s.get(NoticeDelivery, n.id)
            parts = s.execute(sa.select(NoticePart).where(NoticePart.notice_id == n.id)).scalars()
            out[n.id] = {
                "kind": n.kind,
                "status": n.status,
                "params": n.params,
                "last_error": n.last_error,
                "text": d.text if d else None,
                "to": d.to_e164 if d else None,
                "message_ids": [p.message_id for p in parts],
            }
    return out


def test_purge_redacts_notices_of_closed_cases_only(ctx: Context) -> None:
    key = add_device(ctx)
    with ctx.sessions.begin() as s:
        pid = enrol(s, ADMIN, ctx.rules, PHONE, "Road Traffic Act s.1", "Ann").id
    fines: dict[str, Fine] = {}
    for case in ("paid", "open"):
        ev = violation(key, person_id=pid)
        assert ingest(ctx, ev) == "stored"
        with ctx.sessions.begin() as s:
            fines[case] = review.confirm(s, OPERATOR, ctx.rules, ev.event_id).fine
    with ctx.sessions() as s:  # before sending: the sender drops the code from params
        codes = {
            case: s.execute(
                sa.select(Notice.params).where(Notice.fine_id == f.id, Notice.kind == "fine_issued")
            ).scalar_one()["access_code"]
            for case, f in fines.items()
        }
    _send_all(ctx)
    # What the purge must remove is really there: the SMS text holds code and reference.
    (issued,) = _rows(ctx, fines["paid"].id).values()
    assert codes["paid"] in str(issued["text"]) and issued["to"] == PHONE
    with ctx.sessions.begin() as s:
        paid = fines["paid"]
        payments.apply_payment(
            s,
            Actor("provider:test", "system"),
            payments.IncomingPayment(
                "checkout", "test", "PSP-1", paid.reference, paid.amount_cents, paid.currency
            ),
        )

    # The payment's notice is still unsent: it keeps what it needs to be sent.
    counts = run_purge(ctx.sessions, ctx.evidence, CLOSED_CASES)
    assert counts["closed_fine_evidence"] == 1 and counts["closed_fine_notices"] == 1
    rows = _rows(ctx, fines["paid"].id)
    by_kind = {r["kind"]: r for r in rows.values()}
    assert by_kind["fine_issued"] == {
        "kind": "fine_issued",
        "status": "delivered",
        "params": {"reference": fines["paid"].reference},
        "last_error": None,
        "text": None,
        "to": None,
        "message_ids": issued["message_ids"],  # provider ids stay (not personal data)
    }
    assert by_kind["fine_issued"]["message_ids"]
    assert by_kind["payment_received"]["status"] == "pending"
    assert by_kind["payment_received"]["params"]["reference"] == fines["paid"].reference

    _send_all(ctx)
    counts = run_purge(ctx.sessions, ctx.evidence, CLOSED_CASES)
    assert counts["closed_fine_notices"] == 1  # the payment notice, now settled
    for r in _rows(ctx, fines["paid"].id).values():
        assert r["text"] is None and r["to"] is None and r["last_error"] is None
        assert r["params"] == {"reference": fines["paid"].reference}
        assert codes["paid"] not in repr(r) and PHONE not in repr(r)
    assert run_purge(ctx.sessions, ctx.evidence, CLOSED_CASES)["closed_fine_notices"] == 0

    # The open case is untouched: its sent text still carries code and number (the params
    # stopped holding the code when the text was rendered).
    (open_notice,) = _rows(ctx, fines["open"].id).values()
    assert codes["open"] not in repr(open_notice["params"])
    assert codes["open"] in str(open_notice["text"]) and open_notice["to"] == PHONE


def test_erasure_redacts_the_persons_sent_notices(ctx: Context) -> None:
    """Erasure keeps the fine (a legal obligation) but no notice keeps the erased person's
    number or access code, even while the fine is still open."""
    key = add_device(ctx)
    with ctx.sessions.begin() as s:
        pid = enrol(s, ADMIN, ctx.rules, PHONE, "Road Traffic Act s.1", "Ann").id
    ev = violation(key, person_id=pid)
    assert ingest(ctx, ev) == "stored"
    with ctx.sessions.begin() as s:
        fine = review.confirm(s, OPERATOR, ctx.rules, ev.event_id).fine
    (unsent,) = _rows(ctx, fine.id).values()
    code = unsent["params"]["access_code"]  # type: ignore[index]
    _send_all(ctx)
    (before,) = _rows(ctx, fine.id).values()
    assert code in str(before["text"]) and before["to"] == PHONE
    with ctx.sessions.begin() as s:
        erase(s, SUPERVISOR, pid, ctx.evidence)
    (after,) = _rows(ctx, fine.id).values()
    assert after["params"] == {"reference": fine.reference}
    assert after["text"] is None and after["to"] is None and after["status"] == "delivered"
    assert code not in repr(after) and PHONE not in repr(after)
    with ctx.sessions() as s:
        assert s.get(Fine, fine.id).status == "issued"  # type: ignore[union-attr]


def test_the_access_code_leaves_the_params_when_the_text_is_rendered(ctx: Context) -> None:
    """Only a hash of the code is on the fine; the plain code is in the notice's params
    just until the sender renders the SMS text, then only in that text. A retry after a
    failed submission resends the same text (it cannot be rendered again)."""
    from central.notices.providers.base import NotSent, Submission

    key = add_device(ctx)
    with ctx.sessions.begin() as s:
        pid = enrol(s, ADMIN, ctx.rules, PHONE, "Road Traffic Act s.1", "Ann").id
    ev = violation(key, person_id=pid)
    assert ingest(ctx, ev) == "stored"
    with ctx.sessions.begin() as s:
        fine = review.confirm(s, OPERATOR, ctx.rules, ev.event_id).fine
    (unsent,) = _rows(ctx, fine.id).values()
    code = unsent["params"]["access_code"]  # type: ignore[index]

    class FailsOnce(LogProvider):
        calls = 0

        def submit(self, to_e164: str, text: str, idempotency_key: str) -> Submission:
            FailsOnce.calls += 1
            if FailsOnce.calls == 1:
                raise NotSent("gateway busy")
            return super().submit(to_e164, text, idempotency_key)

    cfg = NoticesConfig.model_validate({"retry": {"backoff_base_s": 0.01, "backoff_max_s": 0.01}})
    sender = NoticeSender(ctx.sessions, cfg, FailsOnce())
    sender.run_once()
    (after_fail,) = _rows(ctx, fine.id).values()
    assert after_fail["status"] == "pending" and code not in repr(after_fail["params"])
    first_text = after_fail["text"]
    assert code in str(first_text)
    import time

    time.sleep(0.05)
    sender.run_once()
    (sent,) = _rows(ctx, fine.id).values()
    assert sent["status"] == "delivered" and sent["text"] == first_text
    assert code not in repr(sent["params"]) and sent["params"]["access_code_in_text"] is True  # type: ignore[index]
    with ctx.sessions() as s:  # and nowhere else in the notices table
        row = s.execute(sa.text("SELECT * FROM notices WHERE fine_id = :f"), {"f": fine.id}).all()
    assert code not in repr(row)
