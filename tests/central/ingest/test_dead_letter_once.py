"""Each bad message is dead-lettered once (design principle 6: nothing lost or doubled).

The poison: a valid signed status that the database refuses for its content. The wire
contract now refuses every value a database would (integers beyond 32 bits, NUL bytes,
lone surrogates), so no real input reaches that path any more; the refusal is injected
(a DataError on the UPDATE of that status, on both databases). It makes the batch fall
back to one-by-one storing. The outage that then interrupts the
pass must hit the gap right after the dead-letter row was committed, which stopping the
server (tests/faults/test_central_db_outage.py) cannot do reliably. So, at the next event
INSERT: PostgreSQL really loses the connection (``pg_terminate_backend`` of that session,
from another one); SQLite has no such thing (its transaction already holds the write
lock, so another process cannot lock it out then), so there the error is injected.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from central.config import IngestSettings, MqttSettings
from central.context import Context
from central.ingest.classify import Incoming
from central.ingest.consumer import IngestWorker
from central.ingest.health import is_data_error
from central.store.models import DeadLetter, Event, utcnow
from jaywatch import wire
from tests.central.helpers import add_device, make_context, violation

POISON_MARK = "4242421"  # outbox_depth of the poison status (a plain integer parameter)


@pytest.fixture
def ctx(db_url: str, tmp_path: Path) -> Iterator[Context]:
    c = make_context(db_url, tmp_path)

    def refuse(conn: Any, cursor: Any, statement: str, params: Any, *_a: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE DEVICES") and POISON_MARK in str(params):
            raise sa.exc.DataError(statement, params, ValueError("value refused by the database"))

    sa.event.listen(c.engine, "before_cursor_execute", refuse)
    yield c
    sa.event.remove(c.engine, "before_cursor_execute", refuse)
    c.close()


def _worker(ctx: Context) -> IngestWorker:
    # Never started: the test drives the worker's store step (_process) itself, exactly as
    # its retry loop does, so no broker is needed.
    return IngestWorker(
        MqttSettings(host="127.0.0.1", port=1, client_id="central-dl"),
        IngestSettings(batch_max=100),
        ctx.sessions,
        ctx.evidence,
    )


def _event(key: Any) -> Incoming:
    ev = violation(key, images=0)
    return Incoming(wire.violation_topic("gw-1"), ev.model_dump_json().encode())


def _poison(key: Any) -> Incoming:
    st = wire.sign_message(
        wire.DeviceStatus(device_id="gw-1", online=True, outbox_depth=int(POISON_MARK)), key
    )
    return Incoming(wire.status_topic("gw-1"), st.model_dump_json().encode())


def _count(ctx: Context, model: type) -> int:
    with ctx.sessions() as s:
        return s.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


class OutageAfterDeadLetter:
    """Once a dead-letter row has been written, the next INSERT INTO events fails because
    the database connection is lost (once)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.armed = False
        self.fired = 0
        self.admin = sa.create_engine(engine.url) if engine.dialect.name == "postgresql" else None
        sa.event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, conn: Any, cursor: Any, statement: str, *_a: Any) -> None:
        s = statement.lstrip().upper()
        if s.startswith("INSERT INTO DEAD_LETTERS"):
            self.armed = self.fired == 0
        elif self.armed and s.startswith("INSERT INTO EVENTS"):
            self.armed = False
            self.fired += 1
            if self.admin is None:  # SQLite: injected
                raise sa.exc.OperationalError(
                    statement, None, ConnectionError("database connection lost")
                )
            # PostgreSQL: really end this session's server process (waits until it is gone);
            # the INSERT then runs on a dead connection.
            pid = cursor.connection.info.backend_pid
            with self.admin.connect() as c:
                done = c.execute(sa.text("SELECT pg_terminate_backend(:p, 10000)"), {"p": pid})
                assert done.scalar_one() is True

    def remove(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._before)
        if self.admin is not None:
            self.admin.dispose()


def test_an_outage_during_the_one_by_one_pass_does_not_double_the_dead_letter(
    ctx: Context,
) -> None:
    key = add_device(ctx, "gw-1")
    w = _worker(ctx)
    batch = [_event(key), _poison(key), _event(key), _event(key)]
    fault = OutageAfterDeadLetter(ctx.engine)
    try:
        with pytest.raises(sa.exc.OperationalError) as outage:
            w._process(batch)  # batch refused -> one by one -> poison dead-lettered -> outage
        assert fault.fired == 1 and not is_data_error(outage.value), outage.value
        assert _count(ctx, DeadLetter) == 1 and _count(ctx, Event) == 1  # committed so far
        outcomes = w._process(batch)  # the worker's retry of the whole batch
    finally:
        fault.remove()
    assert [o.status for o in outcomes] == ["duplicate", "rejected", "stored", "stored"]
    assert _count(ctx, Event) == 3
    with ctx.sessions() as s:
        rows = s.execute(sa.select(DeadLetter.topic, DeadLetter.reason)).all()
    assert len(rows) == 1, rows
    assert rows[0].topic == wire.status_topic("gw-1")


def test_the_same_bad_bytes_again_later_stay_one_row(ctx: Context) -> None:
    """An edge (or the broker) delivering identical bad bytes again, in the same batch or
    a later one, is the same message: one dead-letter row."""
    key = add_device(ctx, "gw-1")
    w = _worker(ctx)
    junk = Incoming(wire.violation_topic("gw-1"), b"not json at all")
    poison = _poison(key)
    first = w._process([junk, junk, _event(key)])
    assert [o.status for o in first] == ["rejected", "rejected", "stored"]
    again = w._process([junk, poison, _event(key)])  # one-by-one pass (poison)
    assert [o.status for o in again] == ["rejected", "rejected", "stored"]
    w._process([poison])
    with ctx.sessions() as s:
        rows = s.execute(sa.select(DeadLetter.topic, DeadLetter.sha256)).all()
    assert sorted(r.topic for r in rows) == sorted(
        [wire.violation_topic("gw-1"), wire.status_topic("gw-1")]
    )
    # Different topic, same bytes: a different message (two devices can send the same junk).
    w._process([Incoming(wire.violation_topic("gw-2"), b"not json at all")])
    assert _count(ctx, DeadLetter) == 3


def test_the_migration_collapses_existing_doubled_rows(db_url: str) -> None:
    """Rows doubled before the unique key existed: the earliest of each is kept."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from central.store.db import make_engine, migrate
    from central.store.models import Base

    migrate(db_url, "gallery_0001")  # the revision before the unique key
    engine = make_engine(db_url)
    row = {"received": utcnow(), "reason": "r", "raw": b"x", "size": 1}
    # The table as it was at that revision (the model has columns added since).
    table = sa.table(
        "dead_letters",
        *(sa.column(c) for c in ("id", "received", "topic", "reason", "raw", "size", "sha256")),
    )
    try:
        with engine.begin() as c:
            c.execute(
                sa.insert(table),
                [
                    {**row, "topic": "t/a", "sha256": "a" * 64, "reason": "first"},
                    {**row, "topic": "t/a", "sha256": "a" * 64, "reason": "second"},
                    {**row, "topic": "t/b", "sha256": "a" * 64},  # other topic: kept
                    {**row, "topic": "t/a", "sha256": "b" * 64},
                    {**row, "topic": "t/a", "sha256": "b" * 64},
                ],
            )
        migrate(db_url)
        with engine.begin() as c:
            left = c.execute(
                sa.select(table.c.topic, table.c.sha256, table.c.reason).order_by(table.c.id)
            ).all()
            assert [(t, h[0], r) for t, h, r in left] == [
                ("t/a", "a", "first"),
                ("t/b", "a", "r"),
                ("t/a", "b", "r"),
            ]
            with pytest.raises(sa.exc.IntegrityError):
                c.execute(sa.insert(table), [{**row, "topic": "t/a", "sha256": "a" * 64}])
        with engine.connect() as c:
            diffs = compare_metadata(MigrationContext.configure(c), Base.metadata)
        assert [d for d in diffs if "dead_letters" in repr(d)] == []
    finally:
        engine.dispose()
