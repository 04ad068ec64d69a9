"""Property tests: random sequences of ingest, review, payment and appeal actions.

Invariants checked after every action (principles 1, 4, 6):
- a fine exists only for an event an OPERATOR confirmed (and the audit log says so);
- a replayed event never stores anything new, so never adds a fine;
- an upheld appeal has voided its fine, restored its points and withdrawn its display entry;
  a paid fine's display entry is withdrawn; an issued fine's is shown;
- the score equals start − unexpired points of non-void fines, within [floor, start];
- the audit chain verifies.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central import audit
from central.config import ScoreSettings
from central.context import Context
from central.ingest.classify import Incoming, KeyCache, classify
from central.ingest.store import load_device_keys, store_batch
from central.store.models import (
    Appeal,
    AuditEntry,
    DisplayEntry,
    Event,
    Fine,
    LedgerEntry,
    Payment,
    PaymentAdjustment,
    utcnow,
)
from central.workflow import appeals, payments, review, sanctions
from central.workflow.common import Actor, WorkflowError
from central.workflow.persons import enrol
from central.workflow.score import current_score
from jaywatch import wire
from tests.central.helpers import ADMIN, AUDITOR, OPERATOR, SUPERVISOR, add_device, make_context

CITIZEN = Actor("holder", "citizen")
PROVIDER = Actor("provider:test", "system")
PERSONS = ["p-0", "p-1"]
idx = st.integers(0, 10_000)
ACTIONS = st.one_of(
    st.tuples(
        st.just("new"), st.sampled_from([None, *PERSONS, "not-enrolled"]), st.integers(0, 800)
    ),
    st.tuples(st.just("replay"), idx),
    st.tuples(
        st.just("confirm"), idx, st.sampled_from([OPERATOR, OPERATOR, SUPERVISOR, ADMIN, AUDITOR])
    ),
    st.tuples(st.just("dismiss"), idx, st.sampled_from(review.DISMISS_REASONS)),
    st.tuples(st.just("pay"), idx, st.sampled_from(["P1", "P2", "P3"]), st.booleans()),
    st.tuples(st.just("appeal"), idx),
    st.tuples(
        st.just("decide"), idx, st.booleans(), st.sampled_from([SUPERVISOR, SUPERVISOR, OPERATOR])
    ),
)


class World:
    """Runs actions against the real workflow and tracks what the model expects."""

    def __init__(self, ctx: Context, key: Any, seen: Counter) -> None:
        self.ctx, self.key, self.seen = ctx, key, seen
        self.keys = KeyCache(self._load_keys)
        with ctx.sessions.begin() as s:  # a clean slate for every example
            for t in (
                "statement_lines",
                "payment_adjustments",
                "payments",
                "notices",
                "display_entries",
                "ledger",
                "appeals",
                "fines",
                "evidence",
                "events",
            ):
                s.execute(sa.text(f"DELETE FROM {t}"))
        self.payloads: list[bytes] = []
        self.fines: list[str] = []
        self.appeals: list[int] = []
        self.confirmed_by_operator: set[str] = set()
        self.ingested: set[str] = set()

    def _load_keys(self) -> dict[str, bytes]:
        with self.ctx.sessions() as s:
            return load_device_keys(s)

    def _ingest(self, payload: bytes, now: datetime | None = None) -> str:
        msg = Incoming(wire.violation_topic("gw-1"), payload)
        c = classify(msg, self.keys, 10_000_000, now=now)
        with self.ctx.sessions.begin() as s:
            (out,) = store_batch(s, [c], self.ctx.evidence, 1024)
        return out.status

    def _fine_count(self) -> int:
        with self.ctx.sessions() as s:
            return s.execute(sa.select(sa.func.count(Fine.id))).scalar_one()

    def do(self, action: tuple) -> None:
        name, *args = action
        try:
            getattr(self, name)(*args)
        except WorkflowError:
            self.seen[f"{name} refused"] += 1

    def new(self, person: str | None, days_ago: int) -> None:
        ev = wire.ViolationEvent(
            device_id="gw-1",
            camera_id="cam-1",
            occurred=utcnow() - timedelta(days=days_ago, minutes=1),
            t=1.0,
            frame=1,
            track_id=1,
            bbox=(0, 0, 1, 1),
            signal=wire.SignalEvidence(phase="red", red_for_s=3),
            zone=[(0, 0), (1, 0), (1, 1)],
            grace_s=1,
            match=wire.MatchResult(person_id=person, score=0.9) if person else None,
        )
        payload = wire.sign_message(ev, self.key).model_dump_json().encode()
        assert self._ingest(payload, now=ev.occurred + timedelta(minutes=1)) == "stored"
        self.payloads.append(payload)
        self.ingested.add(ev.event_id)

    def _event_id(self, i: int) -> str | None:
        if not self.payloads:
            return None
        return wire.parse_message(self.payloads[i % len(self.payloads)]).event_id  # type: ignore[attr-defined]

    def replay(self, i: int) -> None:
        if not self.payloads:
            return
        before = self._fine_count()
        assert self._ingest(self.payloads[i % len(self.payloads)]) == "duplicate"
        assert self._fine_count() == before
        self.seen["replay"] += 1

    def confirm(self, i: int, actor: Actor) -> None:
        event_id = self._event_id(i)
        if event_id is None:
            return
        with self.ctx.sessions.begin() as s:
            ref = review.confirm(s, actor, self.ctx.rules, event_id).fine.reference
        assert actor.role == "operator"
        self.confirmed_by_operator.add(event_id)
        self.fines.append(ref)
        self.seen["confirm"] += 1

    def dismiss(self, i: int, reason: str) -> None:
        event_id = self._event_id(i)
        if event_id is not None:
            with self.ctx.sessions.begin() as s:
                review.dismiss(s, OPERATOR, event_id, reason)

    def pay(self, i: int, pay_ref: str, exact: bool) -> None:
        if not self.fines:
            return
        ref = self.fines[i % len(self.fines)]
        with self.ctx.sessions.begin() as s:
            f = sanctions.fine_by_reference(s, ref, lock=False)
            owed = payments.outstanding_cents(f)
            # exact: what is owed (all of it, or the rest of a part payment); else a part
            amount = max(1, owed if exact else owed // 2)
            r = payments.apply_payment(
                s, PROVIDER,
                payments.IncomingPayment("checkout", "test", pay_ref, ref, amount, f.currency),
            )  # fmt: skip
        self.seen[r.payment.outcome if r.newly_recorded else "payment replayed"] += 1

    def appeal(self, i: int) -> None:
        if self.fines:
            with self.ctx.sessions.begin() as s:
                ref = self.fines[i % len(self.fines)]
                a = appeals.submit_appeal(s, CITIZEN, self.ctx.evidence, self.ctx.rules, ref, "G.")
            self.appeals.append(a.id)

    def decide(self, i: int, uphold: bool, actor: Actor) -> None:
        if not self.appeals:
            return
        with self.ctx.sessions.begin() as s:
            a_id = self.appeals[i % len(self.appeals)]
            appeals.decide_appeal(s, actor, self.ctx.rules, a_id, uphold, "Reasons.")
        assert actor.role == "supervisor"
        self.seen["upheld" if uphold else "denied"] += 1

    # --- invariants ------------------------------------------------------------------------

    def check(self) -> None:
        ctx = self.ctx
        with ctx.sessions() as s:
            fined = set(
                s.execute(sa.select(Event.event_id).join(Fine, Fine.event_pk == Event.id)).scalars()
            )
            assert fined == self.confirmed_by_operator
            audited = {
                t.removeprefix("event:")
                for t in s.execute(
                    sa.select(AuditEntry.target).where(
                        AuditEntry.action == "event.confirm", AuditEntry.actor.like("operator:%")
                    )
                ).scalars()
            }
            assert fined <= audited
            assert s.execute(sa.select(sa.func.count(Event.id))).scalar_one() == len(self.ingested)
            for f in s.execute(sa.select(Fine)).scalars():
                shown = s.execute(
                    sa.select(DisplayEntry).where(DisplayEntry.fine_id == f.id)
                ).scalar_one()
                assert (shown.withdrawn_at is None) == (f.status == "issued")
                upheld = s.execute(
                    sa.select(Appeal.id).where(Appeal.fine_id == f.id, Appeal.status == "upheld")
                ).first()
                restored = s.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.points), 0)).where(
                        LedgerEntry.fine_id == f.id, LedgerEntry.kind == "restoration"
                    )
                ).scalar_one()
                assert (f.status == "void") == (upheld is not None)
                assert restored == (f.points if upheld else 0)
                # Money: credited exactly once per payment; paid iff all of it arrived;
                # money on a voided fine, or after it closed, is owed back.
                credited = s.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_cents), 0)).where(
                        Payment.fine_id == f.id,
                        Payment.outcome.in_(("paid", "partial", "overpaid")),
                    )
                ).scalar_one()
                assert f.paid_cents == credited
                # A voided fine stays void when all of it was paid first (the money is
                # owed back, checked next): "paid" only for a fine that still stands.
                if f.status != "void":
                    assert (f.status == "paid") == (f.paid_cents >= f.amount_cents)
                refunds = s.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(PaymentAdjustment.amount_cents), 0))
                    .where(PaymentAdjustment.fine_id == f.id)
                    .where(PaymentAdjustment.kind == "refund_due")
                ).scalar_one()
                late = s.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_cents), 0)).where(
                        Payment.fine_id == f.id, Payment.outcome == "not_due"
                    )
                ).scalar_one()
                over = max(0, f.paid_cents - f.amount_cents)
                assert refunds == late + over + (f.paid_cents if f.status == "void" else 0)
            sc, now = ctx.rules.score, datetime.now(UTC)
            for p in PERSONS:
                active = sum(
                    f.points
                    for f in s.execute(sa.select(Fine).where(Fine.person_id == p)).scalars()
                    if f.status != "void"
                    and f.occurred + timedelta(days=sc.points_expire_days) > now
                )
                score = current_score(s, ctx.rules, p, now)
                assert sc.floor <= score <= sc.start
                assert score == max(sc.floor, sc.start - active)
            assert audit.verify(s).ok


@pytest.mark.slow
def test_random_action_sequences(db_url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # A small start score, so random runs reach the floor.
        score = ScoreSettings(start=4, floor=0, points_expire_days=365)
        ctx = make_context(db_url, Path(tmp), score=score)
        try:
            key = add_device(ctx, "gw-1")
            with ctx.sessions.begin() as s:
                for p in PERSONS:
                    enrol(s, ADMIN, ctx.rules, "+447400123456", "statute", person_id=p)
            seen: Counter = Counter()

            @settings(
                max_examples=30,
                deadline=None,
                derandomize=True,  # the same sequences every run: coverage is not luck
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(st.lists(ACTIONS, min_size=10, max_size=40))
            def run(actions: list[tuple]) -> None:
                world = World(ctx, key, seen)
                for a in actions:
                    world.do(a)
                    world.check()

            run()
            # The runs must have reached every decision, or they proved little.
            for what in (
                "confirm", "replay", "paid", "partial", "not_due", "payment replayed",
                "upheld", "denied",
            ):  # fmt: skip
                assert seen[what] > 0, (what, seen)
        finally:
            ctx.close()


def test_paid_in_full_then_upheld_is_void_and_owed_back(db_url: str) -> None:
    """Paid in full, then an appeal upheld: the fine is void and all of it is owed back.

    The generated runs reach this order only sometimes (it depends on which sequences
    hypothesis draws), so it is checked here on every run with the same invariants.
    """
    with tempfile.TemporaryDirectory() as tmp:
        ctx = make_context(db_url, Path(tmp), score=ScoreSettings(start=4, floor=0))
        try:
            key = add_device(ctx, "gw-1")
            with ctx.sessions.begin() as s:
                for p in PERSONS:
                    enrol(s, ADMIN, ctx.rules, "+447400123456", "statute", person_id=p)
            seen: Counter = Counter()
            world = World(ctx, key, seen)
            for a in (
                ("new", "p-0", 0),
                ("confirm", 0, OPERATOR),
                ("pay", 0, "P1", True),
                ("appeal", 0),
                ("decide", 0, True, SUPERVISOR),
            ):
                world.do(a)
                world.check()
            assert seen["paid"] == 1 and seen["upheld"] == 1, seen
            with ctx.sessions() as s:
                f = s.execute(sa.select(Fine)).scalar_one()
                assert f.status == "void" and f.paid_cents == f.amount_cents
        finally:
            ctx.close()
