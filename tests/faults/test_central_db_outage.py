"""Central's PostgreSQL goes away for a while (a throwaway server started by the test,
stopped with ``pg_ctl -m immediate`` mid-stream, then started again). Meanwhile ingest
reports the failure and acks nothing, the edge keeps every event in its outbox (its
retained heartbeat says how many), and when the database is back everything is stored
exactly once without anyone restarting anything."""

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

from central.config import IngestSettings, MqttSettings
from central.ingest.consumer import IngestWorker
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


@pytest.mark.timeout(120)
def test_database_outage_is_reported_nothing_lost_recovers_by_itself(
    make_broker, tmp_path: Path, postgres: ThrowawayPostgres
) -> None:
    broker = fault_broker(make_broker)
    rig = Rig(tmp_path, broker, postgres.url)
    ctx = rig.context()
    worker = IngestWorker(
        MqttSettings(
            host=broker.host,
            port=broker.port,
            username="central",
            password=PASSWORDS["central"],
            client_id="central-db-fault",
        ),
        IngestSettings(batch_max=50),
        ctx.sessions,
        ctx.evidence,
    ).start()
    watcher, seen = _status_watcher(broker)
    try:
        pub = rig.start_publisher(0, N, "--interval", "0.01", "--health-s", "0.5")
        wait_until(lambda: rig.stored() >= 50, 30, "first events stored")
        postgres.stop()
        t_down = time.monotonic()
        wait_until(lambda: worker.counts["retries"] >= 2, 30, "ingest to report the DB failure")
        acked_before = worker.counts["stored"]
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
        assert worker.counts["rejected"] == 0
    finally:
        watcher.disconnect()  # type: ignore[attr-defined]
        watcher.loop_stop()  # type: ignore[attr-defined]
        worker.stop()
        rig.close()
        ctx.close()
