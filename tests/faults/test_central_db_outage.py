"""Central's database is unavailable for a while. PostgreSQL: a throwaway server started
by the test, stopped with ``pg_ctl -m immediate`` mid-stream, then started again, or
refusing writes (privilege revoked). SQLite: the write lock held by another process.
Meanwhile ingest reports the database unhealthy (``health()``, ``GET /api/health``,
Prometheus) and acks nothing, nothing is dead-lettered (an outage is not a message
problem), the edge keeps every event in its outbox (its retained heartbeat says how
many), and when the database is back everything is stored exactly once without anyone
restarting anything."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.api.app import create_app
from central.config import IngestSettings, MqttSettings
from central.context import Context
from central.ingest.consumer import IngestWorker
from central.store.models import DeadLetter
from jaywatch import wire
from tests.faults.helpers import DEVICE, PASSWORDS, Rig, expected_ids, fault_broker, wait_until
from tests.services import Broker, free_port

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.slow]

N = 300


class ThrowawayPostgres:
    """initdb + pg_ctl on its own port and socket dir (run as user postgres under root:
    PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        pg_ctl = bins[-1] if bins else shutil.which("pg_ctl")
        if not pg_ctl:
            pytest.skip("PostgreSQL server binaries (pg_ctl, initdb) are not installed")
        self.bin = Path(pg_ctl).parent
        self.dir = Path(tempfile.mkdtemp(prefix="jw-pg-"))
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self._run(f"{self.bin}/initdb -D {self.dir}/data -U postgres --auth=trust -E UTF8")

    def _run(self, cmd: str) -> None:
        argv = (
            ["su", "postgres", "-s", "/bin/sh", "-c", cmd]
            if os.geteuid() == 0
            else ["sh", "-c", cmd]
        )
        subprocess.run(argv, check=True, capture_output=True, timeout=60)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(f"{self.bin}/pg_ctl -D {self.dir}/data -l {self.dir}/log -o '{opts}' -w start")

    def stop(self) -> None:
        self._run(f"{self.bin}/pg_ctl -D {self.dir}/data -m immediate -w stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def postgres() -> Iterator[ThrowawayPostgres]:
    pg = ThrowawayPostgres()
    pg.start()
    yield pg
    pg.remove()


def _status_watcher(broker: Broker) -> tuple[object, list[wire.DeviceStatus]]:
    import paho.mqtt.client as mqtt

    seen: list[wire.DeviceStatus] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="watch", protocol=mqtt.MQTTv5)
    c.username_pw_set("central", PASSWORDS["central"])
    c.on_message = lambda _c, _u, m: seen.append(wire.parse_message(m.payload))  # type: ignore[arg-type]
    c.on_connect = lambda cl, *_a: cl.subscribe(wire.status_topic(DEVICE), qos=1)
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c, seen


def _worker(broker: Broker, ctx: Context, client_id: str) -> IngestWorker:
    return IngestWorker(
        MqttSettings(
            host=broker.host,
            port=broker.port,
            username="central",
            password=PASSWORDS["central"],
            client_id=client_id,
        ),
        IngestSettings(batch_max=50, retry_max_s=1.0),
        ctx.sessions,
        ctx.evidence,
    ).start()


def _dead_letters(rig: Rig) -> int:
    # rig.scalar: a plain engine, so that reading never waits for SQLite's write lock.
    return rig.scalar(sa.select(sa.func.count()).select_from(DeadLetter))


@pytest.mark.timeout(120)
def test_database_outage_is_reported_nothing_lost_recovers_by_itself(
    make_broker, tmp_path: Path, postgres: ThrowawayPostgres
) -> None:
    broker = fault_broker(make_broker)
    rig = Rig(tmp_path, broker, postgres.url)
    ctx = rig.context()
    worker = _worker(broker, ctx, "central-db-fault")
    api = TestClient(create_app(ctx, ingest_health=worker.health))
    watcher, seen = _status_watcher(broker)
    try:
        assert api.get("/api/health").status_code == 200
        pub = rig.start_publisher(0, N, "--interval", "0.01", "--health-s", "0.5")
        wait_until(lambda: rig.stored() >= 50, 30, "first events stored")
        postgres.stop()
        t_down = time.monotonic()
        wait_until(lambda: worker.counts["retries"] >= 2, 30, "ingest to report the DB failure")
        acked_before = worker.counts["stored"]
        h = worker.health()
        assert not h.healthy and h.database == "unavailable" and h.database_down_since
        assert h.broker_connected and h.database_error
        r = api.get("/api/health")
        assert r.status_code == 503 and r.json()["database"] == "unavailable"
        assert r.json()["ingest"]["database"] == "unavailable"
        assert worker.metrics.registry.get_sample_value("jaywatch_central_db_up") == 0
        wait_until(
            lambda: any(s.online and s.outbox_depth >= 50 for s in seen[-3:]), 30,
            "the edge's heartbeat to show its outbox growing",
        )  # fmt: skip
        time.sleep(max(0.0, 3.0 - (time.monotonic() - t_down)))  # down ≥ 3 s
        assert worker.counts["stored"] == acked_before  # nothing acked while the DB is down

        postgres.start()  # nobody restarts central or the edge
        out, _ = pub.communicate(timeout=90)
        assert pub.returncode == 0 and "DRAINED" in out
        wait_until(lambda: rig.stored() == N, 30, f"{N} events at central")
        ids = rig.event_ids()
        assert len(ids) == N and set(ids) == expected_ids(N)
        assert worker.counts["rejected"] == 0 and _dead_letters(rig) == 0
        h = worker.health()
        assert h.healthy and h.database == "ok" and h.database_error == ""
        assert api.get("/api/health").status_code == 200
        assert worker.metrics.registry.get_sample_value("jaywatch_central_db_up") == 1
    finally:
        watcher.disconnect()  # type: ignore[attr-defined]
        watcher.loop_stop()  # type: ignore[attr-defined]
        worker.stop()
        rig.close()
        ctx.close()


def _run_outage(
    rig: Rig, ctx: Context, worker: IngestWorker, n: int, fault: str, begin, end
) -> None:
    """Stream ``n`` events; after the first 20 are stored, ``begin()`` the fault, check
    the worker reports it and stores, acks and dead-letters nothing, ``end()`` it, and
    check everything arrives exactly once with nothing dead-lettered."""
    pub = rig.start_publisher(0, n, "--interval", "0.01")
    wait_until(lambda: rig.stored() >= 20, 30, "first events stored")
    begin()
    try:
        wait_until(lambda: worker.counts["retries"] >= 2, 30, "ingest to report the fault")
        stored, t0 = rig.stored(), time.monotonic()
        h = worker.health()
        assert not h.healthy and h.database == "unavailable" and fault in h.database_error
        while time.monotonic() - t0 < 2.0:  # the fault lasts ≥ 2 s and many retries
            assert _dead_letters(rig) == 0 and rig.stored() == stored
            time.sleep(0.2)
        assert not worker.health().healthy
    finally:
        end()
    out, _ = pub.communicate(timeout=90)
    assert pub.returncode == 0 and "DRAINED" in out
    wait_until(lambda: rig.stored() == n, 30, f"{n} events at central")
    ids = rig.event_ids()
    assert len(ids) == n and set(ids) == expected_ids(n)
    assert _dead_letters(rig) == 0 and worker.counts["rejected"] == 0
    assert worker.health().healthy


@pytest.mark.timeout(120)
def test_sqlite_locked_is_an_outage_not_a_dead_letter(make_broker, tmp_path: Path) -> None:
    """Another process holds SQLite's write lock for longer than the busy timeout: every
    write fails with 'database is locked' until it lets go."""
    import sqlite3

    from central.store.db import make_engine, session_factory

    broker = fault_broker(make_broker)
    db_file = tmp_path / "central.db"
    rig = Rig(tmp_path, broker, f"sqlite:///{db_file}")
    ctx = rig.context()
    # The worker's own engine, as central makes it, with a short busy wait so that the
    # test's lock outlasts it many times over (production waits 30 s).
    engine = make_engine(f"sqlite:///{db_file}")
    sa.event.listen(
        engine, "connect", lambda c, _r: c.execute("PRAGMA busy_timeout=200"), insert=False
    )
    worker = IngestWorker(
        MqttSettings(
            host=broker.host,
            port=broker.port,
            username="central",
            password=PASSWORDS["central"],
            client_id="central-sqlite-lock",
        ),
        IngestSettings(batch_max=50, retry_max_s=1.0),
        session_factory(engine),
        ctx.evidence,
    ).start()
    locker = sqlite3.connect(db_file, isolation_level=None)
    try:
        _run_outage(
            rig, ctx, worker, 150, "database is locked",
            lambda: locker.execute("BEGIN IMMEDIATE"), lambda: locker.execute("ROLLBACK"),
        )  # fmt: skip
    finally:
        locker.close()
        worker.stop()
        engine.dispose()
        rig.close()
        ctx.close()


@pytest.mark.timeout(120)
def test_postgres_refusing_writes_is_an_outage_not_a_dead_letter(
    make_broker, tmp_path: Path, postgres: ThrowawayPostgres
) -> None:
    """The ingest role loses its INSERT privilege on events (a botched grant): PostgreSQL
    answers, but refuses every event for a reason that is not the event's fault."""
    broker = fault_broker(make_broker)
    rig = Rig(tmp_path, broker, postgres.url)
    ctx = rig.context()
    admin = sa.create_engine(postgres.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql("CREATE ROLE ingest LOGIN")
        c.exec_driver_sql("GRANT ALL ON ALL TABLES IN SCHEMA public TO ingest")
        c.exec_driver_sql("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ingest")

    def sql(stmt: str) -> None:
        with admin.connect() as c:
            c.exec_driver_sql(stmt)

    ingest_engine = sa.create_engine(postgres.url.replace("postgres@", "ingest@"))
    worker = IngestWorker(
        MqttSettings(
            host=broker.host,
            port=broker.port,
            username="central",
            password=PASSWORDS["central"],
            client_id="central-pg-grant",
        ),
        IngestSettings(batch_max=50, retry_max_s=1.0),
        sa.orm.sessionmaker(ingest_engine),
        ctx.evidence,
    ).start()
    try:
        _run_outage(
            rig, ctx, worker, 100, "permission denied",
            lambda: sql("REVOKE INSERT ON events FROM ingest"),
            lambda: sql("GRANT INSERT ON events TO ingest"),
        )  # fmt: skip
    finally:
        worker.stop()
        ingest_engine.dispose()
        admin.dispose()
        rig.close()
        ctx.close()
