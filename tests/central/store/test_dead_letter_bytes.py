"""Dead letters under a flood (SQLite and PostgreSQL): the kept byte total (migration
dead_letters_0002, central/store/dead_letter_bytes.py) equals SUM(length(raw)) after
inserts, eviction, folding, deletes, plain SQL and compaction, and the migration counts
the rows stored before it; a topic past its row budget is coalesced (counted, first/last
seen, a sample, one audit entry); the total cap holds for small rows too, and every
message is still counted somewhere; a coalesced row cannot be requeued, only discarded."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.ingest.store import EVICTED_KEEP, insert_dead_letters
from central.store import dead_letter_bytes
from central.store.db import make_engine, migrate, session_factory
from central.store.models import AuditEntry, DeadLetter, utcnow
from central.workflow import deadletters as dl
from central.workflow.common import Actor, Conflict

ADA = Actor("ada", "admin", None)


@pytest.fixture
def sessions(db_url: str) -> Iterator[Any]:
    migrate(db_url)
    engine = make_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


def row(i: int, size: int, topic: str = "jaywatch/v1/gw-1/violation", reason: str = "") -> dict:
    p = (b"%08d" % i) * (size // 8) or b"%08d" % i
    return {"received": utcnow(), "topic": topic, "reason": reason or f"invalid: bad {i}",
            "raw": p, "size": len(p), "sha256": hashlib.sha256(p).hexdigest()}  # fmt: skip


def summed(s: Session) -> int:
    return int(
        s.execute(
            sa.select(sa.func.coalesce(sa.func.sum(sa.func.length(DeadLetter.raw)), 0))
        ).scalar_one()
    )


def messages(s: Session) -> int:
    return int(
        s.execute(sa.select(sa.func.coalesce(sa.func.sum(DeadLetter.messages), 0))).scalar_one()
    )


def test_the_kept_total_equals_the_rows_bytes_whatever_changes_them(sessions: Any) -> None:
    with sessions.begin() as s:
        assert dead_letter_bytes.total(s) == 0
        insert_dead_letters(s, [row(i, 10_000) for i in range(30)])
        insert_dead_letters(s, [row(i, 10_000) for i in range(30)])  # the same again: nothing
        assert dead_letter_bytes.total(s) == summed(s) == 300_000
    with sessions.begin() as s:  # eviction cuts the oldest to 4 KiB
        insert_dead_letters(s, [row(99, 10_000)], max_total=200_000)
        assert dead_letter_bytes.total(s) == summed(s) <= 200_000
    with sessions.begin() as s:  # plain SQL: an update of raw, a delete (retention)
        s.execute(sa.update(DeadLetter).where(DeadLetter.id == 3).values(raw=b"x"))
        s.execute(sa.delete(DeadLetter).where(DeadLetter.id.in_([5, 6, 7])))
        assert dead_letter_bytes.total(s) == summed(s)
        assert dead_letter_bytes.rows(s) > 1
        assert dead_letter_bytes.compact(s) > 1
        assert dead_letter_bytes.rows(s) == 1 and dead_letter_bytes.total(s) == summed(s)
    with sessions.begin() as s:  # the workflow's discard
        (first,) = s.execute(sa.select(DeadLetter.id).order_by(DeadLetter.id).limit(1)).one()
        dl.discard_dead_letter(s, ADA, first, "test")
        assert dead_letter_bytes.total(s) == summed(s)


def test_the_migration_counts_the_rows_stored_before_it(db_url: str) -> None:
    migrate(db_url, "queue_0002")
    engine = make_engine(db_url)
    old = sa.table(
        "dead_letters",
        *(sa.column(c) for c in ("received", "topic", "reason", "raw", "size", "sha256")),
    )
    try:
        with engine.begin() as c:
            c.execute(sa.insert(old), [row(i, 1000 + i) for i in range(50)])
        migrate(db_url)
        with session_factory(engine).begin() as s:
            assert dead_letter_bytes.total(s) == summed(s) > 50_000
            assert messages(s) == 50
            insert_dead_letters(s, [row(1000, 5000)])
            assert dead_letter_bytes.total(s) == summed(s)
    finally:
        engine.dispose()


def test_a_topic_past_its_budget_is_coalesced_counted_and_audited(sessions: Any) -> None:
    flood, other = "jaywatch/v1/gw-evil/snapshot", "jaywatch/v1/gw-good/violation"
    with sessions.begin() as s:
        for start in range(0, 250, 50):  # five batches
            insert_dead_letters(s, [row(i, 200, flood) for i in range(start, start + 50)],
                                per_topic=100)  # fmt: skip
        # Ten more, and the group's sample again (its bytes are kept: not counted twice; a
        # folded message's bytes are not, so the same bytes again would count once more).
        again = [row(i, 200, flood) for i in [*range(250, 260), 100, 5]]
        insert_dead_letters(s, again, per_topic=100)
        insert_dead_letters(s, [row(7, 200, other)], per_topic=100)
    with sessions() as s:
        own = s.execute(
            sa.select(sa.func.count()).where(
                DeadLetter.topic == flood, DeadLetter.group_key.is_(None)
            )
        ).scalar_one()
        groups = (
            s.execute(sa.select(DeadLetter).where(DeadLetter.group_key.is_not(None)))
            .scalars()
            .all()
        )
        assert own == 100
        assert [(g.topic, g.group_key, g.messages) for g in groups] == [(flood, "invalid", 160)]
        g = groups[0]
        assert g.last_received >= g.received and g.reason == "invalid: bad 100"
        assert messages(s) == 261  # 260 distinct on the flood topic, one elsewhere: all counted
        assert s.execute(sa.select(DeadLetter.id).where(DeadLetter.topic == other)).all()
        audits = s.execute(
            sa.select(AuditEntry.details).where(AuditEntry.action == "dead_letter.coalesce")
        ).scalars().all()  # fmt: skip
        assert len(audits) == 1 and audits[0]["topic"] == flood and audits[0]["per_topic"] == 100


def test_the_total_cap_holds_for_small_rows_and_nothing_goes_uncounted(sessions: Any) -> None:
    cap = 200_000
    topics = [f"jaywatch/v1/gw-{d}/violation" for d in range(10)]
    sent = 0
    with sessions.begin() as s:
        for batch in range(40):  # 40 x 10 x 2 = 800 rows of 1 KiB: 4x the cap
            rows = [row(batch * 100 + j, 1024, t) for j in range(2) for t in topics]
            insert_dead_letters(s, rows, max_total=cap)
            sent += len(rows)
            assert dead_letter_bytes.total(s) == summed(s)
            # Within the cap, give or take one 4-KiB sample per (topic, kind of reason).
            assert summed(s) <= cap + len(topics) * EVICTED_KEEP
    with sessions() as s:
        assert messages(s) == sent
        assert s.execute(sa.select(sa.func.count()).select_from(DeadLetter)).scalar_one() < 300
        folded = s.execute(
            sa.select(AuditEntry.details).where(AuditEntry.action == "dead_letter.evict")
        ).scalars().all()  # fmt: skip
        assert folded and sum(len(d["folded"]) for d in folded) > 0


def test_a_coalesced_row_is_listed_first_cannot_be_requeued_and_can_be_discarded(
    sessions: Any, tmp_path: Path
) -> None:
    flood = "jaywatch/v1/gw-evil/snapshot"
    with sessions.begin() as s:
        insert_dead_letters(s, [row(i, 100, flood, "camera_id: too many") for i in range(15)],
                            per_topic=10)  # fmt: skip
        insert_dead_letters(s, [row(99, 100, "jaywatch/v1/gw-2/status")], per_topic=10)
    with sessions.begin() as s:
        views = dl.list_dead_letters(s, ADA, limit=5)
        assert views[0].coalesced and views[0].messages == 5 and views[0].device_id == "gw-evil"
        assert not views[0].complete and views[1].topic.endswith("gw-2/status")
        gid = views[0].id
    with sessions.begin() as s, pytest.raises(Conflict, match="5 coalesced messages"):
        dl.requeue_dead_letter(s, ADA, None, gid)  # type: ignore[arg-type]
    with sessions.begin() as s:
        dl.discard_dead_letter(s, ADA, gid, "flood understood")
    with sessions() as s:
        assert s.get(DeadLetter, gid) is None
        (details,) = s.execute(
            sa.select(AuditEntry.details).where(AuditEntry.action == "dead_letter.discard")
        ).scalars()
        assert details["messages"] == 5 and details["coalesced"] == "camera_id"


@pytest.mark.postgres
def test_concurrent_writers_keep_the_total_exact_on_postgresql(pg_url: str) -> None:
    """Four writers inserting, evicting and folding at once (as four ingest workers in a
    $share group do), plus a compaction now and then: the kept total stays exact. A
    transaction the database refuses (a deadlock; two writers starting one coalesced row)
    is retried, as ingest does."""
    import threading

    migrate(pg_url)
    engine = make_engine(pg_url, pool_size=6)
    sessions = session_factory(engine)
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for b in range(15):
                rows = [row(w * 10_000 + b * 100 + j, 3000, f"jaywatch/v1/gw-{w}/violation")
                        for j in range(10)]  # fmt: skip
                for _attempt in range(20):
                    try:
                        with sessions.begin() as s:
                            insert_dead_letters(s, rows, max_total=150_000, per_topic=60)
                            if b % 5 == 4:
                                dead_letter_bytes.compact(s)
                        break
                    except (sa.exc.OperationalError, sa.exc.IntegrityError):
                        # A deadlock, or two writers starting the same coalesced row: ingest
                        # retries such a batch (one by one), so does this writer.
                        continue
                else:
                    raise AssertionError("a batch never committed")
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert not errors, errors
        with sessions() as s:
            assert dead_letter_bytes.total(s) == summed(s)
            assert messages(s) == 4 * 15 * 10  # every message kept or counted, once
            assert summed(s) <= 150_000 + 4 * EVICTED_KEEP
    finally:
        engine.dispose()
