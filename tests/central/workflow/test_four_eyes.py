"""Four-eyes review and the undo window (central.workflow.review), on SQLite and
PostgreSQL: who must confirm, that the same operator cannot be both reviewers, that a
second reviewer's rejection dismisses, that nothing is issued before the undo window
has passed, and that it is issued exactly once after it."""

from __future__ import annotations

import ast
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from central.config import ReviewSettings
from central.context import Context
from central.store.models import (
    AuditEntry,
    DisplayEntry,
    Event,
    Fine,
    LedgerEntry,
    Notice,
    ReviewConfirmation,
    utcnow,
)
from central.workflow import review
from central.workflow.common import Actor, Conflict, Forbidden
from central.workflow.persons import erase
from tests.central.helpers import ADMIN, OPERATOR, REPO, add_device, make_context, violation
from tests.central.workflow.test_workflow import ingest, person

OSCAR = Actor("oscar", "operator", None)  # a second, different operator
THRESHOLD = 0.40  # the edge's threshold the test events carry
WEAK, STRONG = 0.45, 0.80  # with weak_margin 0.10: below / above 0.50


def context(db_url: str, tmp_path: Path, **review_kw: object) -> Context:
    settings = ReviewSettings(**{"undo_window_s": 0, **review_kw})  # type: ignore[arg-type]
    return make_context(db_url, tmp_path, review=settings)


@pytest.fixture
def ctx(db_url: str, tmp_path: Path) -> Iterator[Context]:
    c = context(db_url, tmp_path)  # the shipped policy: weak_matches, margin 0.10
    yield c
    c.close()


def event(ctx: Context, score: float, threshold: float | None = THRESHOLD) -> str:
    """A stored, matched violation with this match score and edge threshold."""
    key = getattr(ctx, "test_device_key", None)
    if key is None:
        key = add_device(ctx)
        ctx.test_device_key = key  # type: ignore[attr-defined]
    ev = violation(key, person_id=person(ctx), score=score, threshold=threshold)
    assert ingest(ctx, ev) == "stored"
    return ev.event_id


def counts(ctx: Context, event_id: str) -> dict[str, int]:
    """Fines, deductions, notices and display entries of one event."""
    with ctx.sessions() as s:
        pk = s.execute(sa.select(Event.id).where(Event.event_id == event_id)).scalar_one()
        fine_ids = list(s.execute(sa.select(Fine.id).where(Fine.event_pk == pk)).scalars())

        def n(model: type, col: sa.ColumnElement) -> int:
            q = sa.select(sa.func.count()).select_from(model).where(col.in_(fine_ids))
            return int(s.execute(q).scalar_one())

        return {
            "fines": len(fine_ids),
            "ledger": n(LedgerEntry, LedgerEntry.fine_id),
            "notices": n(Notice, Notice.fine_id),
            "display": n(DisplayEntry, DisplayEntry.fine_id),
        }


NONE = {"fines": 0, "ledger": 0, "notices": 0, "display": 0}
ONE = {"fines": 1, "ledger": 1, "notices": 1, "display": 1}


def status(ctx: Context, event_id: str) -> str:
    with ctx.sessions() as s:
        return s.execute(sa.select(Event.status).where(Event.event_id == event_id)).scalar_one()


def confirm(ctx: Context, actor: Actor, event_id: str) -> review.Decision:
    with ctx.sessions.begin() as s:
        return review.confirm(s, actor, ctx.rules, event_id, evidence=ctx.evidence)


def audit_of(ctx: Context, event_id: str) -> list[tuple[str, str, dict]]:
    with ctx.sessions() as s:
        rows = s.execute(
            sa.select(AuditEntry.actor, AuditEntry.action, AuditEntry.details)
            .where(AuditEntry.target == f"event:{event_id}")
            .order_by(AuditEntry.seq)
        ).all()
    return [(a, b, c) for a, b, c in rows if b.startswith("event.")]


def test_weak_match_needs_two_different_operators(ctx: Context) -> None:
    eid = event(ctx, WEAK)
    d = confirm(ctx, OPERATOR, eid)
    assert (d.status, d.fine) == ("second_review", None)
    assert status(ctx, eid) == "second_review" and counts(ctx, eid) == NONE
    with ctx.sessions() as s:  # in the queue, with who confirmed first
        (item,) = [i for i in review.review_queue(s, OSCAR) if i.event_id == eid]
        assert item.first_confirmed_by == OPERATOR.label
        # ... but not among the items the first operator may decide
        assert eid not in [i.event_id for i in review.review_queue(s, OPERATOR, actionable=True)]
    with pytest.raises(Conflict, match="second, different operator"):
        confirm(ctx, OPERATOR, eid)
    # nor can the first reviewer turn it into a dismissal
    with pytest.raises(Conflict), ctx.sessions.begin() as s:
        review.dismiss(s, OPERATOR, eid, "other")
    assert counts(ctx, eid) == NONE
    d = confirm(ctx, OSCAR, eid)
    assert d.status == "confirmed" and d.fine is not None
    assert counts(ctx, eid) == ONE
    trail = audit_of(ctx, eid)
    assert [(a, b) for a, b, _ in trail if b != "event.read"] == [
        (OPERATOR.label, "event.confirm_first"),
        (OSCAR.label, "event.confirm"),
    ]
    assert trail[-1][2]["confirmed_by"] == [OPERATOR.label, OSCAR.label]


def test_an_event_without_a_threshold_counts_as_weak(ctx: Context) -> None:
    eid = event(ctx, 0.99, threshold=None)
    assert confirm(ctx, OPERATOR, eid).status == "second_review"


def test_strong_match_needs_one_with_weak_matches(ctx: Context) -> None:
    eid = event(ctx, STRONG)
    d = confirm(ctx, OPERATOR, eid)
    assert d.status == "confirmed" and counts(ctx, eid) == ONE


@pytest.mark.parametrize(
    ("policy", "score", "first_status"),
    [
        ("all", STRONG, "second_review"),
        ("never", WEAK, "confirmed"),
        ("weak_matches", WEAK, "second_review"),
    ],
)
def test_policies(
    db_url: str, tmp_path: Path, policy: str, score: float, first_status: str
) -> None:
    ctx = context(db_url, tmp_path, second_reviewer=policy)
    try:
        eid = event(ctx, score)
        assert confirm(ctx, OPERATOR, eid).status == first_status
        assert counts(ctx, eid) == (ONE if first_status == "confirmed" else NONE)
    finally:
        ctx.close()


def test_the_second_reviewers_rejection_dismisses(ctx: Context) -> None:
    eid = event(ctx, WEAK)
    confirm(ctx, OPERATOR, eid)
    with ctx.sessions.begin() as s:
        review.dismiss(s, OSCAR, eid, "wrong_person")
    assert status(ctx, eid) == "dismissed" and counts(ctx, eid) == NONE
    _a, action, details = audit_of(ctx, eid)[-1]
    assert action == "event.dismiss"
    assert details == {
        "reason": "wrong_person",
        "second_review": True,
        "first_confirmed_by": OPERATOR.label,
    }
    with pytest.raises(Conflict):
        confirm(ctx, OPERATOR, eid)


def test_undo_within_the_window_leaves_nothing(db_url: str, tmp_path: Path) -> None:
    ctx = context(db_url, tmp_path, undo_window_s=30)
    try:
        eid = event(ctx, STRONG)
        t0 = utcnow()
        d = confirm(ctx, OPERATOR, eid)
        assert d.status == "confirming" and d.fine is None and d.undo_until is not None
        assert d.undo_until - t0 >= timedelta(seconds=29)
        assert review.issue_due(ctx.sessions.begin, ctx.rules, ctx.evidence) == []
        assert counts(ctx, eid) == NONE
        with pytest.raises(Forbidden), ctx.sessions.begin() as s:  # not someone else's
            review.undo(s, OSCAR, eid)
        with ctx.sessions.begin() as s:
            review.undo(s, OPERATOR, eid)
        assert status(ctx, eid) == "pending_review"
        later = utcnow() + timedelta(seconds=31)
        assert review.issue_due(ctx.sessions.begin, ctx.rules, ctx.evidence, now=later) == []
        assert counts(ctx, eid) == NONE
        assert [b for _a, b, _d in audit_of(ctx, eid) if b != "event.read"] == [
            "event.confirm_final",
            "event.confirm_undo",
        ]
        # confirmed again, the window passes: issued once, then never again
        d = confirm(ctx, OPERATOR, eid)
        with ctx.sessions.begin() as s, pytest.raises(Conflict, match="undo window ended"):
            review.undo(s, OPERATOR, eid, now=d.undo_until)
        late = d.undo_until + timedelta(seconds=1)  # type: ignore[operator]
        (fine,) = review.issue_due(ctx.sessions.begin, ctx.rules, ctx.evidence, now=late)
        assert review.issue_due(ctx.sessions.begin, ctx.rules, ctx.evidence, now=late) == []
        assert status(ctx, eid) == "confirmed" and counts(ctx, eid) == ONE
        _a, action, details = audit_of(ctx, eid)[-1]
        assert (action, details["fine"], details["confirmed_by"]) == (
            "event.confirm",
            fine.reference,
            [OPERATOR.label],
        )
    finally:
        ctx.close()


def test_undo_of_the_second_confirmation_returns_to_second_review(
    db_url: str, tmp_path: Path
) -> None:
    ctx = context(db_url, tmp_path, undo_window_s=30)
    try:
        eid = event(ctx, WEAK)
        confirm(ctx, OPERATOR, eid)
        assert confirm(ctx, OSCAR, eid).status == "confirming"
        with ctx.sessions.begin() as s:
            review.undo(s, OSCAR, eid)
        assert status(ctx, eid) == "second_review"
        with pytest.raises(Conflict):  # the first reviewer still cannot be the second
            confirm(ctx, OPERATOR, eid)
        with ctx.sessions.begin() as s:  # the first one takes theirs back: new again
            review.undo(s, OPERATOR, eid)
        assert status(ctx, eid) == "pending_review"
        assert confirm(ctx, OPERATOR, eid).status == "second_review"
    finally:
        ctx.close()


def test_due_fines_issued_exactly_once_by_concurrent_issuers(db_url: str, tmp_path: Path) -> None:
    """Several issuers (as several `central serve` processes would) over the same due
    confirmations: each event gets exactly one fine, notice, deduction, display entry."""
    ctx = context(db_url, tmp_path, undo_window_s=5)
    others = [context(db_url, tmp_path, undo_window_s=5) for _ in range(3)]
    try:
        eids = [event(ctx, STRONG) for _ in range(6)]
        for eid in eids:
            assert confirm(ctx, OPERATOR, eid).status == "confirming"
        late = utcnow() + timedelta(seconds=10)
        issued: list[str] = []
        errors: list[BaseException] = []
        start = threading.Barrier(len(others))

        def run(c: Context) -> None:
            try:
                start.wait()
                fines = review.issue_due(c.sessions.begin, c.rules, c.evidence, now=late)
                issued.extend(f.reference for f in fines)
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(c,)) for c in others]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        assert len(issued) == len(set(issued)) == len(eids)
        for eid in eids:
            assert status(ctx, eid) == "confirmed" and counts(ctx, eid) == ONE
    finally:
        for c in (ctx, *others):
            c.close()


def test_erasure_during_the_undo_window_issues_nothing(db_url: str, tmp_path: Path) -> None:
    ctx = context(db_url, tmp_path, undo_window_s=5)
    try:
        eid = event(ctx, STRONG)
        confirm(ctx, OPERATOR, eid)
        with ctx.sessions() as s:
            pid = s.execute(
                sa.select(Event.match_person_id).where(Event.event_id == eid)
            ).scalar_one()
        with ctx.sessions.begin() as s:
            erase(s, ADMIN, pid, ctx.evidence)
        late = utcnow() + timedelta(seconds=10)
        assert review.issue_due(ctx.sessions.begin, ctx.rules, ctx.evidence, now=late) == []
        assert status(ctx, eid) == "unidentified" and counts(ctx, eid) == NONE
    finally:
        ctx.close()


def test_confirmations_are_kept(ctx: Context) -> None:
    eid = event(ctx, WEAK)
    confirm(ctx, OPERATOR, eid)
    confirm(ctx, OSCAR, eid)
    with ctx.sessions() as s:
        rows = s.execute(
            sa.select(ReviewConfirmation.stage, ReviewConfirmation.actor)
            .join(Event, Event.id == ReviewConfirmation.event_pk)
            .where(Event.event_id == eid)
            .order_by(ReviewConfirmation.id)
        ).all()
    assert [tuple(r) for r in rows] == [("first", OPERATOR.label), ("final", OSCAR.label)]


def test_fines_and_display_entries_are_made_only_in_issue_fine() -> None:
    """Where a fine is made: ``Fine(...)``/``DisplayEntry(...)`` are constructed in
    central/workflow/sanctions.py's ``issue_fine`` and nowhere else in central/."""
    found: set[tuple[str, str, str]] = set()

    class Calls(ast.NodeVisitor):
        def __init__(self, path: str) -> None:
            self.path, self.where = path, "<module>"

        def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
            outer, self.where = self.where, node.name
            self.generic_visit(node)
            self.where = outer

        def visit_Call(self, node: ast.Call) -> None:
            if isinstance(node.func, ast.Name) and node.func.id in ("Fine", "DisplayEntry"):
                found.add((self.path, self.where, node.func.id))
            self.generic_visit(node)

    for path in sorted((REPO / "central").rglob("*.py")):
        Calls(path.relative_to(REPO).as_posix()).visit(ast.parse(path.read_text()))
    assert sorted(found) == [
        ("central/workflow/sanctions.py", "issue_fine", "DisplayEntry"),
        ("central/workflow/sanctions.py", "issue_fine", "Fine"),
    ]
