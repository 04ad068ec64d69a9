"""The appeal procedure in the workflow (SQLite and PostgreSQL): the window from the
notice's delivery, the due date paused and renewed, reasons in the decision SMS within
its length, upheld on a paid fine, second-level review by another supervisor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from central.config import AppealSettings
from central.context import Context
from central.notices.config import load_notices_config
from central.notices.encoding import encode_sms
from central.notices.kinds import AppealDenied, AppealUpheld, NoticeParams
from central.notices.models import NoticeDelivery
from central.notices.templates import render
from central.store.models import (
    Appeal,
    AuditEntry,
    Fine,
    LedgerEntry,
    Notice,
    PaymentAdjustment,
    User,
)
from central.workflow import appeals, payments, review
from central.workflow.common import SYSTEM, Actor, Conflict, Forbidden
from central.workflow.persons import enrol
from central.workflow.users import create_user
from tests.central.helpers import ADMIN, OPERATOR, add_device, make_context, violation
from tests.central.workflow.test_workflow import ingest

REPO = Path(__file__).resolve().parents[3]
CITIZEN = Actor("holder", "citizen")


@pytest.fixture
def ctx(db_url: str, tmp_path: Path) -> Iterator[Context]:
    c = make_context(db_url, tmp_path, appeals=AppealSettings(window_days=10, second_level=True))
    yield c
    c.close()


def supervisors(ctx: Context) -> tuple[Actor, Actor]:
    with ctx.sessions.begin() as s:
        a = create_user(s, SYSTEM, "sam", "a long password 1", "supervisor")
        b = create_user(s, SYSTEM, "sue", "a long password 2", "supervisor")
        return Actor("sam", "supervisor", a.id), Actor("sue", "supervisor", b.id)


def fine(ctx: Context) -> Fine:
    key = add_device(ctx)
    with ctx.sessions.begin() as s:
        pid = enrol(s, ADMIN, ctx.rules, "+447400123456", "Road Traffic Act s.1").id
    ev = violation(key, person_id=pid)
    assert ingest(ctx, ev) == "stored"
    with ctx.sessions.begin() as s:
        return review.confirm(s, OPERATOR, ctx.rules, ev.event_id).fine


def submit(ctx: Context, ref: str, now: datetime | None = None, text: str = "Green.") -> Appeal:
    with ctx.sessions.begin() as s:
        return appeals.submit_appeal(s, CITIZEN, ctx.evidence, ctx.rules, ref, text, now=now)


def decide(
    ctx: Context, who: Actor, appeal_id: int, uphold: bool, note: str = "Reasons.", now=None
):  # type: ignore[no-untyped-def]
    with ctx.sessions.begin() as s:
        return appeals.decide_appeal(s, who, ctx.rules, appeal_id, uphold, note, now=now)


def mark_notice(ctx: Context, f: Fine, sent: datetime | None, delivered: datetime | None) -> None:
    with ctx.sessions.begin() as s:
        n = s.execute(
            sa.select(Notice).where(Notice.fine_id == f.id, Notice.kind == "fine_issued")
        ).scalar_one()
        n.sent_at = sent
        if delivered is not None:
            s.add(
                NoticeDelivery(
                    notice_id=n.id, provider="log", idempotency_key="k", delivered_at=delivered
                )
            )


def test_the_window_runs_from_delivery_else_sent_else_issue(ctx: Context) -> None:
    f = fine(ctx)
    with ctx.sessions() as s:
        w = appeals.appeal_window(s, s.get(Fine, f.id), ctx.rules.appeals)
    assert w.basis == "issued" and w.ends == f.issued + timedelta(days=10)
    sent = f.issued + timedelta(days=3)
    mark_notice(ctx, f, sent, None)
    with ctx.sessions() as s:
        w = appeals.appeal_window(s, s.get(Fine, f.id), ctx.rules.appeals)
    assert (w.basis, w.ends) == ("sent", sent + timedelta(days=10))
    delivered = f.issued + timedelta(days=5)  # the phone was off for two days
    mark_notice(ctx, f, sent, delivered)
    with ctx.sessions() as s:
        w = appeals.appeal_window(s, s.get(Fine, f.id), ctx.rules.appeals)
    assert (w.basis, w.ends) == ("delivered", delivered + timedelta(days=10))
    # One second after the window: refused, saying until when it ran and from what.
    with pytest.raises(
        Conflict, match=r"the time to appeal ended on .*10 days after the notice was delivered"
    ):
        submit(ctx, f.reference, now=w.ends + timedelta(seconds=1))
    assert submit(ctx, f.reference, now=w.ends).status == appeals.PENDING  # the last moment


def test_due_paused_then_renewed_on_denial_and_reasons_go_out(ctx: Context) -> None:
    sam, _ = supervisors(ctx)
    f = fine(ctx)
    left = f.due - f.issued
    filed = f.issued + timedelta(days=2)
    a = submit(ctx, f.reference, now=filed)
    with ctx.sessions() as s:
        assert appeals.payment_paused(s, f.id)
        st = appeals.appeal_state(s, s.get(Fine, f.id), ctx.rules, now=filed)
        assert st.paused and not st.can_appeal and st.latest.state == "submitted"
    with ctx.sessions.begin() as s:
        appeals.start_review(s, sam, a.id)
    with ctx.sessions() as s:
        assert appeals.appeal_state(s, s.get(Fine, f.id), ctx.rules).latest.state == "under review"
    decided = filed + timedelta(days=30)  # long after the old due date
    with pytest.raises(ValueError, match="reasons: required"):
        decide(ctx, sam, a.id, False, note="  ")
    decide(ctx, sam, a.id, False, note="The signal was red for 4 s.", now=decided)
    with ctx.sessions() as s:
        g = s.get(Fine, f.id)
        assert g.status == "issued" and not appeals.payment_paused(s, f.id)
        # the time that was left when the appeal was filed is given back
        assert g.due == decided + max(left - timedelta(days=2), timedelta(days=14))
        n = s.execute(sa.select(Notice).where(Notice.kind == "appeal_denied")).scalar_one()
        assert n.params["note"] == "The signal was red for 4 s."
        assert n.params["due"] == g.due.date().isoformat()


def test_reasons_of_the_longest_allowed_length_fit_the_sms_in_every_language(
    ctx: Context,
) -> None:
    """The shipped notices config: the longest reasons the workflow accepts still render
    within max_parts (worst case: non-GSM characters force UCS-2)."""
    cfg = load_notices_config(REPO / "config" / "notices.example.yaml")
    n = ctx.rules.appeals.reasons_max_chars
    note = ("Ωραία ή не " * n)[:n]  # Greek + Cyrillic: UCS-2
    assert len(note.encode("utf-16-le")) // 2 == n
    for phone in ("+447400123456", "+306912345678", "+201001234567"):
        decisions: tuple[NoticeParams, ...] = (
            AppealUpheld(reference="JW-ABCD-EFGH", note=note, level=1, points_restored=3),
            AppealDenied(reference="JW-ABCD-EFGH", note=note, level=1, due=date(2027, 1, 31)),
        )
        for params in decisions:
            text = render(cfg, params, phone).text
            assert note in text
            encode_sms(text, max_parts=cfg.max_parts)  # raises MessageTooLong if not
    sam, _ = supervisors(ctx)
    f = fine(ctx)
    a = submit(ctx, f.reference)
    with pytest.raises(ValueError, match=f"reasons: at most {n} characters"):
        decide(ctx, sam, a.id, True, note="x" * (n + 1))


def test_upheld_on_a_paid_fine_voids_it_and_records_a_refund_due(ctx: Context) -> None:
    sam, _ = supervisors(ctx)
    f = fine(ctx)
    a = submit(ctx, f.reference)
    with ctx.sessions.begin() as s:  # paying while the appeal is pending is allowed
        payments.apply_payment(
            s,
            Actor("provider:test", "system"),
            payments.IncomingPayment(
                "checkout", "test", "PSP-1", f.reference, f.amount_cents, f.currency
            ),
        )
    decide(ctx, sam, a.id, True, note="Camera clock was wrong.")
    with ctx.sessions() as s:
        g = s.get(Fine, f.id)
        assert g.status == "void" and g.paid_at is not None
        kinds = [
            k for (k,) in s.execute(sa.select(LedgerEntry.kind).where(LedgerEntry.fine_id == f.id))
        ]
        assert sorted(kinds) == ["deduction", "restoration"]
        details = s.execute(
            sa.select(AuditEntry.details).where(AuditEntry.action == "appeal.uphold")
        ).scalar_one()
        assert details["refund_due"] is True
        (refund,) = s.execute(sa.select(PaymentAdjustment)).scalars()
        assert (refund.kind, refund.amount_cents, refund.status) == (
            "refund_due", f.amount_cents, "open",
        )  # fmt: skip
        n = s.execute(sa.select(Notice).where(Notice.kind == "appeal_upheld")).scalar_one()
        assert n.params["note"] == "Camera clock was wrong."
        outcome = appeals.case_outcome(s, g.event_pk)
    assert outcome is not None and outcome.voided
    assert "voided on appeal" in outcome.text and "confirmed" not in outcome.text


def test_second_level_goes_to_another_supervisor_and_both_are_audited(ctx: Context) -> None:
    sam, sue = supervisors(ctx)
    f = fine(ctx)
    first = submit(ctx, f.reference)
    decide(ctx, sam, first.id, False, note="Red for 4 s.")
    with ctx.sessions() as s:
        st = appeals.appeal_state(s, s.get(Fine, f.id), ctx.rules)
    assert st.can_contest and st.contest_by is not None
    second = submit(ctx, f.reference, text="The signal head was hidden by a bus.")
    assert (second.level, second.parent_id) == (2, first.id)
    with pytest.raises(Conflict, match="already submitted"):
        submit(ctx, f.reference)
    for attempt in (
        lambda s: appeals.start_review(s, sam, second.id),
        lambda s: appeals.decide_appeal(s, sam, ctx.rules, second.id, True, "Fine."),
    ):
        with ctx.sessions.begin() as s, pytest.raises(Forbidden, match="another supervisor"):
            attempt(s)
    decide(ctx, sue, second.id, True, note="The bus hid the signal.")
    with ctx.sessions() as s:
        assert s.get(Fine, f.id).status == "void"
        rows = s.execute(
            sa.select(AuditEntry.actor, AuditEntry.action)
            .where(AuditEntry.action.like("appeal.%"), AuditEntry.action != "appeal.list")
            .order_by(AuditEntry.seq)
        ).all()
        names = dict(s.execute(sa.select(User.id, User.username)).all())
        a2 = s.get(Appeal, second.id)
    assert [tuple(r) for r in rows] == [
        ("citizen:holder", "appeal.submit"),
        ("supervisor:sam", "appeal.deny"),
        ("citizen:holder", "appeal.contest"),
        ("supervisor:sue", "appeal.uphold"),
    ]
    assert names[a2.decided_by] == "sue"
    # No third level, and nothing more once void.
    with pytest.raises(Conflict):
        submit(ctx, f.reference)


def test_second_level_window_and_off_switch(db_url: str, tmp_path: Path) -> None:
    c = make_context(db_url, tmp_path, appeals=AppealSettings(second_level=False))
    try:
        sam, _ = supervisors(c)
        f = fine(c)
        a = submit(c, f.reference)
        decide(c, sam, a.id, False)
        with pytest.raises(Conflict, match="already appealed"):
            submit(c, f.reference)
    finally:
        c.close()


def test_contest_after_its_window_is_refused(ctx: Context) -> None:
    sam, _ = supervisors(ctx)
    f = fine(ctx)
    a = submit(ctx, f.reference)
    decided = datetime.now(UTC)
    decide(ctx, sam, a.id, False, now=decided)
    late = decided + timedelta(days=14, seconds=1)
    with pytest.raises(Conflict, match="the time to ask for a second review ended"):
        submit(ctx, f.reference, now=late)


def test_appeal_files_are_kept_while_open_and_purged_with_the_closed_fine(ctx: Context) -> None:
    from central.config import RetentionSettings
    from central.retention import run_purge
    from central.store.models import AppealAttachment
    from tests.central.helpers import jpeg

    sam, _ = supervisors(ctx)
    f = fine(ctx)
    with ctx.sessions.begin() as s:
        a = appeals.submit_appeal(
            s, CITIZEN, ctx.evidence, ctx.rules, f.reference, "See photo.", [("p.jpg", jpeg(3))]
        )
    with ctx.sessions() as s:
        sha = s.execute(sa.select(AppealAttachment.sha256)).scalar_one()
    zero = RetentionSettings(closed_fine_evidence_days=0)
    run_purge(ctx.sessions, ctx.evidence, zero)  # open appeal: nothing goes
    assert ctx.evidence.exists(sha)
    decide(ctx, sam, a.id, True, note="Agreed.")
    with ctx.sessions.begin() as s:  # closed long enough ago
        s.get(Fine, f.id).closed_at = datetime.now(UTC) - timedelta(days=1)
    counts = run_purge(ctx.sessions, ctx.evidence, zero)
    assert counts["closed_fine_appeal_files"] == 1
    assert not ctx.evidence.exists(sha)
    with ctx.sessions() as s:
        assert s.execute(sa.select(AppealAttachment.id)).all() == []
        assert s.get(Appeal, a.id).grounds == "See photo."  # the decision record stays
