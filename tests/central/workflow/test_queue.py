"""The review queue's workflow (central.workflow.queue, .claims) on SQLite and
PostgreSQL: filters, search, keyset pages (a property test: nothing lost or doubled
while events arrive between pages), claims, history, unidentified violations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.store.models import AuditEntry, Event
from central.workflow import claims, review
from central.workflow import queue as wq
from central.workflow.common import Actor, Conflict, Forbidden
from tests.central.web.world import DEVICE, World, build_world

OLIVE = Actor("olive", "operator", None)
OTTO = Actor("otto", "operator", None)
SAM = Actor("sam", "supervisor", None)
AUD = Actor("aud", "auditor", None)
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    w = build_world(db_url, tmp_path)
    yield w
    w.web.hub.stop()
    w.ctx.close()


def page_ids(w: World, f: wq.QueueFilter, actor: Actor = OLIVE, limit: int = 50) -> list[str]:
    with w.ctx.sessions.begin() as s:
        return [r.event_id for r in wq.list_queue(s, actor, f, limit=limit).rows]


def test_filters_select_exactly_their_events(world: World) -> None:
    a = world.ingest(score=0.95, occurred=T0)
    b = world.ingest(score=0.50, occurred=T0 + timedelta(days=1), camera_id="cam-2")
    c = world.ingest(matched=False, occurred=T0 + timedelta(days=2))
    d = world.ingest(score=0.70, occurred=T0 + timedelta(days=3))
    with world.ctx.sessions.begin() as s:  # an altered one, flagged as a read would
        s.execute(sa.update(Event).where(Event.event_id == d).values(evidence_altered_at=T0))
    q = wq.QueueFilter
    assert page_ids(world, q()) == [a, b, d]  # waiting = matched, oldest first
    assert page_ids(world, q(status="unidentified")) == [c]
    assert page_ids(world, q(camera_id="cam-2")) == [b]
    assert page_ids(world, q(device_id=DEVICE, camera_id="cam-1")) == [a, d]
    assert page_ids(world, q(device_id="gw-other")) == []
    assert page_ids(world, q(date_from=date(2026, 11, 21), date_to=date(2026, 11, 21))) == [b]
    assert page_ids(world, q(score_min=0.6)) == [a, d]
    assert page_ids(world, q(score_min=0.6, score_max=0.8)) == [d]
    assert page_ids(world, q(altered="yes")) == [d]
    assert page_ids(world, q(altered="no")) == [a, b]
    assert page_ids(world, q(sort="newest")) == [d, b, a]
    assert page_ids(world, q(sort="score_high")) == [a, d, b]
    assert page_ids(world, q(sort="score_low")) == [b, d, a]
    assert page_ids(world, q(status="unidentified", matched="matched")) == []


def test_search_by_event_id_fine_reference_and_person(world: World) -> None:
    a = world.ingest(occurred=T0)
    b = world.ingest(occurred=T0 + timedelta(minutes=1))
    world.ingest(matched=False, occurred=T0)
    with world.ctx.sessions.begin() as s:
        claims.claim(s, OLIVE, a)
        fine = review.confirm(s, OLIVE, world.ctx.rules, a).fine
    q = wq.QueueFilter
    assert page_ids(world, q(q=b)) == [b]
    assert page_ids(world, q(q=b.upper())) == [b]
    assert page_ids(world, q(status="decided", q=fine.reference)) == [a]
    assert page_ids(world, q(status="decided", q=fine.reference.lower())) == [a]
    assert page_ids(world, q(q="quixote")) == [b]  # part of the enrolled name
    assert page_ids(world, q(q=world.person_id)) == [b]
    assert page_ids(world, q(q="%")) == []  # LIKE wildcards are literal
    with world.ctx.sessions.begin() as s:
        (row,) = wq.list_queue(s, SAM, q(status="decided", sort="decided")).rows
    assert (row.status, row.fine_reference, row.decided_at is not None) == (
        "confirmed", fine.reference, True,
    )  # fmt: skip


def test_history_names_who_decided(world: World) -> None:
    from central.store.models import User

    with world.ctx.sessions() as s:  # the world's second operator, with its account id
        otto = Actor(
            "otto",
            "operator",
            s.execute(sa.select(User.id).where(User.username == "otto")).scalar_one(),
        )
    a = world.ingest(occurred=T0)
    with world.ctx.sessions.begin() as s:
        review.dismiss(s, otto, a, "wrong_person")
    with world.ctx.sessions.begin() as s:
        (row,) = wq.list_queue(s, SAM, wq.QueueFilter(status="decided", sort="decided")).rows
    assert (row.decided_by, row.reason_code, row.status) == ("otto", "wrong_person", "dismissed")


def _insert(w: World, times: list[datetime], status: str = "pending_review") -> list[str]:
    """Events as rows (the pages are what is tested here, not ingest)."""
    ids = []
    with w.ctx.sessions.begin() as s:
        for t in times:
            eid = str(uuid.uuid4())
            s.add(
                Event(
                    event_id=eid, device_id=DEVICE, camera_id="cam-1", occurred=t, received=t,
                    offence_code="ped_red", status=status, match_person_id=w.person_id,
                    match_score=0.9, payload={"signal": {"red_for_s": 3.0}},
                )
            )  # fmt: skip
            ids.append(eid)
    return ids


minutes = st.integers(min_value=0, max_value=30)  # few distinct times: many ties


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.lists(minutes, min_size=0, max_size=25),
    arrivals=st.lists(st.lists(minutes, max_size=4), max_size=8),
    limit=st.integers(1, 7),
    sort=st.sampled_from(["oldest", "newest", "received"]),
)
def test_keyset_pages_lose_and_double_nothing_while_events_arrive(
    world: World, first: list[int], arrivals: list[list[int]], limit: int, sort: str
) -> None:
    with world.ctx.sessions.begin() as s:
        s.execute(sa.delete(Event))
    before = set(_insert(world, [T0 + timedelta(minutes=m) for m in first]))
    f = wq.QueueFilter(sort=sort)
    seen: list[str] = []
    cursor: str | None = None
    batches = iter(arrivals)
    for _ in range(200):
        with world.ctx.sessions.begin() as s:
            page = wq.list_queue(s, OLIVE, f, cursor=cursor, limit=limit)
        seen += [r.event_id for r in page.rows]
        _insert(world, [T0 + timedelta(minutes=m) for m in next(batches, [])])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)), "an event was shown twice"
    assert before <= set(seen), f"lost while paging: {before - set(seen)}"
    # And the order is the sort's: each page continues where the last one ended.
    with world.ctx.sessions() as s:
        key = {
            e.event_id: (e.occurred if sort != "received" else e.received, e.id)
            for e in s.execute(sa.select(Event)).scalars()
        }
    ordered = sorted(seen, key=lambda i: key[i], reverse=sort != "oldest")
    assert seen == ordered


def test_cursor_from_elsewhere_is_refused_by_name(world: World) -> None:
    _insert(world, [T0, T0 + timedelta(minutes=1)])
    with world.ctx.sessions.begin() as s:
        nxt = wq.list_queue(s, OLIVE, wq.QueueFilter(), limit=1).next_cursor
    assert nxt
    for bad in ("x", "!!!!", nxt[:-2], "W10", wq.encode_cursor("oldest", 1.5, 1)):
        with pytest.raises(ValueError, match="cursor"), world.ctx.sessions.begin() as s:
            wq.list_queue(s, OLIVE, wq.QueueFilter(), cursor=bad)
    with pytest.raises(ValueError, match="sort"), world.ctx.sessions.begin() as s:
        wq.list_queue(s, OLIVE, wq.QueueFilter(sort="newest"), cursor=nxt)
    with pytest.raises(ValueError, match="status"):
        wq.QueueFilter(status="nope")
    with pytest.raises(ValueError, match="score_min"):
        wq.QueueFilter(score_min=float("nan"))
    with pytest.raises(Forbidden), world.ctx.sessions.begin() as s:
        wq.list_queue(s, AUD, wq.QueueFilter())


def test_claims_one_reviewer_at_a_time_and_expiry_returns_the_case(world: World) -> None:
    a = world.ingest(occurred=T0)
    b = world.ingest(occurred=T0 + timedelta(minutes=1))
    now = datetime.now(UTC)
    with world.ctx.sessions.begin() as s:
        mine = claims.claim(s, OLIVE, a, now)
    assert mine.holder_name == "olive" and mine.expires == now + claims.LEASE
    with (
        pytest.raises(claims.Claimed, match="being reviewed by olive"),
        world.ctx.sessions.begin() as s,
    ):
        claims.claim(s, OTTO, a, now + timedelta(minutes=1))
    with pytest.raises(claims.Claimed), world.ctx.sessions.begin() as s:
        review.confirm(s, OTTO, world.ctx.rules, a, now=now + timedelta(minutes=1))
    with pytest.raises(claims.Claimed), world.ctx.sessions.begin() as s:
        review.dismiss(s, OTTO, a, "other", now=now + timedelta(minutes=1))
    # /next skips a case someone else holds, and claims what it hands out.
    with world.ctx.sessions.begin() as s:
        assert wq.next_case(s, OTTO, now + timedelta(minutes=1)) == b
    with world.ctx.sessions.begin() as s:
        assert wq.next_case(s, Actor("third", "operator"), now + timedelta(minutes=1)) is None
    # The queue shows who holds what.
    with world.ctx.sessions.begin() as s:
        rows = wq.list_queue(s, SAM, wq.QueueFilter(), now=now + timedelta(minutes=1)).rows
    assert [(r.event_id, r.claim.holder_name if r.claim else None) for r in rows] == [
        (a, "olive"), (b, "otto"),
    ]  # fmt: skip
    # Renewing keeps it; a lapsed lease returns it to the queue for anyone.
    with world.ctx.sessions.begin() as s:
        claims.claim(s, OLIVE, a, now + timedelta(minutes=4))
    with pytest.raises(claims.Claimed), world.ctx.sessions.begin() as s:
        claims.claim(s, OTTO, a, now + timedelta(minutes=8))
    later = now + timedelta(minutes=9, seconds=1)
    with world.ctx.sessions.begin() as s:
        assert wq.next_case(s, Actor("third", "operator"), later) == a
    # The console's decision needs the decider's own live claim.
    with pytest.raises(claims.Claimed), world.ctx.sessions.begin() as s:
        review.confirm(s, OLIVE, world.ctx.rules, a, now=later, require_claim=True)
    with pytest.raises(claims.ClaimLost), world.ctx.sessions.begin() as s:
        review.dismiss(s, OTTO, b, "other", now=later, require_claim=True)
    with world.ctx.sessions.begin() as s:
        claims.claim(s, OTTO, b, later)
        review.dismiss(s, OTTO, b, "other", now=later, require_claim=True)
    with world.ctx.sessions() as s:
        assert claims.live_claims(
            s, [e.id for e in s.execute(sa.select(Event)).scalars()], later
        ) == {
            e.id: claims.current(s, e, later)
            for e in s.execute(sa.select(Event).where(Event.event_id == a)).scalars()
        }  # the decided case's claim ended with the decision
    with pytest.raises(Forbidden), world.ctx.sessions.begin() as s:
        claims.claim(s, SAM, a)
    with pytest.raises(Conflict, match="nothing to review"), world.ctx.sessions.begin() as s:
        claims.claim(s, OTTO, b)


def test_unidentified_statistics_and_audited_bulk_dismissal(world: World) -> None:
    u1 = world.ingest(matched=False, occurred=T0)
    u2 = world.ingest(matched=False, occurred=T0 + timedelta(days=1), camera_id="cam-2")
    u3 = world.ingest(matched=False, occurred=T0 + timedelta(days=1, hours=1))
    matched = world.ingest(occurred=T0)
    with world.ctx.sessions() as s:
        stats = wq.unidentified_stats(s, OLIVE)
    assert (stats.total, stats.oldest, stats.dismissed) == (3, T0, 0)
    assert stats.by_camera == [(DEVICE, "cam-1", 2), (DEVICE, "cam-2", 1)]
    assert stats.by_day == [(date(2026, 11, 21), 2), (date(2026, 11, 20), 1)]
    with pytest.raises(ValueError, match="reason"), world.ctx.sessions.begin() as s:
        wq.dismiss_unidentified(s, OLIVE, "wrong_person", "")  # there is no person
    with pytest.raises(ValueError, match="note"), world.ctx.sessions.begin() as s:
        wq.dismiss_unidentified(s, OLIVE, "other", "  ")
    with pytest.raises(Forbidden), world.ctx.sessions.begin() as s:
        wq.dismiss_unidentified(s, AUD, "poor_evidence", "")
    f = wq.QueueFilter(date_from=date(2026, 11, 21), camera_id="cam-1")
    with world.ctx.sessions.begin() as s:
        res = wq.dismiss_unidentified(s, OLIVE, "poor_evidence", "night, no detail", f)
    assert (res.dismissed, res.remaining) == (1, 0)
    with world.ctx.sessions() as s:
        status = dict(s.execute(sa.select(Event.event_id, Event.status)).all())
        entry = s.execute(
            sa.select(AuditEntry).where(AuditEntry.action == "event.bulk_dismiss")
        ).scalar_one()
    assert status == {
        u1: "unidentified",
        u2: "unidentified",
        u3: "dismissed",
        matched: "pending_review",
    }
    assert entry.details["events"] == [u3] and entry.details["reason"] == "poor_evidence"
    assert entry.details["note"] == "night, no detail" and entry.actor == "operator:olive"
    with world.ctx.sessions.begin() as s:
        res = wq.dismiss_unidentified(s, OLIVE, "signal_fault", "")
    assert res.dismissed == 2
    with world.ctx.sessions() as s:
        stats = wq.unidentified_stats(s, OLIVE)
        persons = s.execute(
            sa.select(Event.match_person_id).where(Event.event_id.in_([u1, u2, u3]))
        ).scalars()
        assert (stats.total, stats.dismissed) == (0, 3)
        assert set(persons) == {None}  # nobody identified after the fact
