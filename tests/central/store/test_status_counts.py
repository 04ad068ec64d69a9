"""Exact per-status event counts kept by the database (migration queue_0002,
central/store/status_counts.py) on SQLite and PostgreSQL: equal to COUNT(*) after
inserts, status changes through the workflow and through plain SQL, deletes and
compaction, also with concurrent writers and compactions on
PostgreSQL; the migration counts the events stored before it; the queue's totals
equal COUNT(*) for the filters that read them."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.store import status_counts
from central.store.db import make_engine, migrate
from central.store.models import Device, Event, EventStatusCount
from central.workflow import queue as wq
from central.workflow import review
from central.workflow.common import Actor
from tests.central.web.world import DEVICE, World, build_world

OLIVE = Actor("olive", "operator", None)
SAM = Actor("sam", "supervisor", None)
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    w = build_world(db_url, tmp_path)
    yield w
    w.web.hub.stop()
    w.ctx.close()


def truth(w: World) -> dict[str, int]:
    with w.ctx.sessions() as s:
        return dict(
            s.execute(sa.select(Event.status, sa.func.count()).group_by(Event.status)).all()
        )


def kept(w: World) -> dict[str, int]:
    with w.ctx.sessions() as s:
        return status_counts.counts(s)


def _rows(w: World, n: int, status: str = "pending_review", device: str = DEVICE) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    with w.ctx.sessions.begin() as s:
        for i, eid in enumerate(ids):
            t = T0 + timedelta(minutes=i)
            s.add(
                Event(
                    event_id=eid, device_id=device, camera_id="cam-1", occurred=t, received=t,
                    offence_code="ped_red", status=status,
                    match_person_id=w.person_id if status != "unidentified" else None,
                    match_score=0.9 if status != "unidentified" else None,
                    payload={"signal": {"red_for_s": 3.0}},
                )
            )  # fmt: skip
    return ids


def test_counts_follow_every_kind_of_change(world: World) -> None:
    a = world.ingest(score=0.95)
    b = world.ingest(score=0.9)
    world.ingest(matched=False)
    _rows(world, 5)
    assert kept(world) == truth(world) == {"pending_review": 7, "unidentified": 1}
    with world.ctx.sessions.begin() as s:  # the workflow's decisions
        review.dismiss(s, OLIVE, a, "wrong_person")
    assert kept(world) == truth(world)
    assert kept(world)["dismissed"] == 1 and kept(world)["pending_review"] == 6
    with world.ctx.sessions.begin() as s:  # plain SQL, bulk: counted all the same
        s.execute(sa.update(Event).where(Event.event_id != b).values(status="unidentified"))
        s.execute(sa.update(Event).where(Event.event_id == b).values(evidence_altered_at=T0))
    assert kept(world) == truth(world) == {"pending_review": 1, "unidentified": 7}
    with world.ctx.sessions.begin() as s:
        s.execute(sa.delete(Event).where(Event.event_id == b))
    assert kept(world) == truth(world) == {"unidentified": 7}
    with world.ctx.sessions.begin() as s:
        removed = status_counts.compact(s)
    assert removed > 8
    with world.ctx.sessions() as s:
        assert status_counts.rows(s) == 1  # one row left: unidentified 7
    assert kept(world) == truth(world)


def test_deletes_and_the_queue_totals(world: World) -> None:
    with world.ctx.sessions.begin() as s:
        s.add(Device(id="gw-gone", public_key=bytes(32), mqtt_username="gw-gone", cameras=[]))
    _rows(world, 3, device="gw-gone")
    _rows(world, 4)
    _rows(world, 2, status="dismissed")  # decided, but without decided_at (as old rows)
    world.ingest(matched=False)
    eid = world.ingest(score=0.8)
    with world.ctx.sessions.begin() as s:
        review.dismiss(s, OLIVE, eid, "poor_evidence")  # decided, with decided_at
    q = wq.QueueFilter
    with world.ctx.sessions.begin() as s:
        for f in (q(), q(status="decided", sort="decided"), q(status="decided"),
                  q(status="unidentified"), q(sort="score_high"), q(status="unidentified",
                  sort="score_low"), q(camera_id="cam-1"), q(matched="matched")):  # fmt: skip
            page = wq.list_queue(s, SAM, f, limit=2)
            cond = wq._conditions(s, f)
            exact = s.execute(sa.select(sa.func.count()).select_from(Event).where(*cond))
            assert page.total == exact.scalar_one(), f
        assert wq.list_queue(s, SAM, q()).total == 7
        assert wq.list_queue(s, SAM, q(status="decided", sort="decided")).total == 1
        assert wq.list_queue(s, SAM, q(status="decided")).total == 3
        assert wq.waiting_count(s) == 7
    with world.ctx.sessions.begin() as s:  # the device's events go (retention, a purge)
        s.execute(sa.delete(Event).where(Event.device_id == "gw-gone"))
    assert kept(world) == truth(world)
    with world.ctx.sessions.begin() as s:
        assert wq.list_queue(s, SAM, q()).total == 4


def test_long_deltas_are_folded_by_a_queue_page(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(status_counts, "COMPACT_AT", 10)
    _rows(world, 25)
    with world.ctx.sessions() as s:
        assert status_counts.rows(s) > 10
    with world.ctx.sessions.begin() as s:
        assert wq.list_queue(s, OLIVE, wq.QueueFilter()).total == 25
    with world.ctx.sessions() as s:
        assert status_counts.rows(s) == 1
    assert kept(world) == truth(world)


def test_concurrent_writers_and_compactions_lose_nothing(world: World) -> None:
    """PostgreSQL: four writers insert and change events while two threads compact;
    the kept counts equal COUNT(*) at the end (SQLite has one writer at a time)."""
    if world.ctx.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers")
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(k: int) -> None:
        try:
            for _ in range(15):
                ids = _rows(world, 4)
                with world.ctx.sessions.begin() as s:
                    s.execute(
                        sa.update(Event).where(Event.event_id.in_(ids[:k % 3 + 1]))
                        .values(status="dismissed")
                    )  # fmt: skip
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def compactor() -> None:
        try:
            while not stop.is_set():
                with world.ctx.sessions.begin() as s:
                    status_counts.compact(s)
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    ws = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    cs = [threading.Thread(target=compactor) for _ in range(2)]
    for t in ws + cs:
        t.start()
    for t in ws:
        t.join()
    stop.set()
    for t in cs:
        t.join()
    assert not errors, errors
    assert kept(world) == truth(world)
    assert sum(truth(world).values()) == 4 * 15 * 4


def test_the_migration_counts_what_was_stored_before_it(db_url: str) -> None:
    migrate(db_url, "alternatives_0001")  # the schema before the counts
    engine = make_engine(db_url)
    try:
        # The devices table as it was at that revision (the model has columns added since).
        old_devices = sa.table(
            "devices",
            sa.column("id"), sa.column("public_key", sa.LargeBinary),
            sa.column("mqtt_username"), sa.column("place"), sa.column("cameras", sa.JSON),
            sa.column("registered", sa.DateTime(timezone=True)), sa.column("disabled", sa.Boolean),
        )  # fmt: skip
        with engine.begin() as c:
            c.execute(
                sa.insert(old_devices).values(
                    id="gw-1", public_key=bytes(32), mqtt_username="gw-1", place="",
                    cameras=[], registered=T0, disabled=False,
                )
            )  # fmt: skip
        with Session(engine) as s, s.begin():
            for i, status in enumerate(["pending_review"] * 3 + ["confirmed", "unidentified"]):
                s.add(
                    Event(
                        event_id=f"e{i}", device_id="gw-1", camera_id="cam-1", occurred=T0,
                        received=T0, offence_code="ped_red", status=status, payload={},
                    )
                )  # fmt: skip
        migrate(db_url)
        with engine.connect() as c:
            got = dict(
                c.execute(
                    sa.select(EventStatusCount.status, sa.func.sum(EventStatusCount.n)).group_by(
                        EventStatusCount.status
                    )
                ).all()
            )
        assert got == {"pending_review": 3, "confirmed": 1, "unidentified": 1}
    finally:
        engine.dispose()
