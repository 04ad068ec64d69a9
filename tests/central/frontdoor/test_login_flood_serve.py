"""40 parallel wrong logins against the real ``jaywatch central serve`` (SQLite and
PostgreSQL) while a gateway sends events: no 500, /api/health answers 200 throughout,
every event is stored. Timings are printed (FRONTDOOR_LOGIN_FLOOD), not asserted."""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from central.config import load_config
from central.context import Context
from central.store.models import Event
from jaywatch import wire
from tests.central.frontdoor.serve import Serve, add_user, example_config
from tests.central.helpers import add_device, violation
from tests.services import Broker

pytestmark = [pytest.mark.timeout(300), pytest.mark.broker]
N_LOGINS = 40
N_EVENTS = 40


class HealthProbe(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[tuple[int, float]] = []  # (status, seconds); 0 = no answer
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as h:
            while not self.stop.is_set():
                t0 = time.monotonic()
                try:
                    status = h.get("/api/health").status_code
                except httpx.TransportError:
                    status = 0
                self.samples.append((status, time.monotonic() - t0))
                time.sleep(0.05)


def stats(samples: list[tuple[int, float]]) -> dict[str, float]:
    t = sorted(s for _, s in samples)
    return {
        "n": len(t),
        "p50_ms": round(statistics.median(t) * 1000, 1),
        "max_ms": round(t[-1] * 1000, 1),
    }


def stored(db_url: str) -> int:
    eng = sa.create_engine(db_url)
    try:
        with eng.connect() as c:
            return c.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one()
    finally:
        eng.dispose()


def test_a_wrong_login_flood_leaves_health_and_ingest_alone(
    tmp_path: Path, db_url: str, broker: Broker
) -> None:
    # Distinct accounts behind distinct forwarded addresses: no throttle refuses, so
    # every one of the 40 attempts is a real argon2 check (the worst case for hashing).
    cfg = example_config(tmp_path, db_url, broker, {"trusted_proxies": ["127.0.0.1/32"]})
    add_user(cfg, "ada", "operator")
    ctx = Context.from_config(load_config(cfg))
    try:
        key = add_device(ctx, "gw-flood")
    finally:
        ctx.close()
    events = [violation(key, "gw-flood") for _ in range(N_EVENTS)]
    report: dict[str, object] = {"db": db_url.split(":")[0]}

    with Serve(cfg, tmp_path / "serve.log") as s:
        probe = HealthProbe(s.url)
        probe.start()
        time.sleep(1.5)
        baseline = list(probe.samples)

        edge = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gw-flood", protocol=mqtt.MQTTv5)
        edge.connect(broker.host, broker.port)
        edge.loop_start()

        def publish() -> None:
            for ev in events:
                edge.publish(wire.violation_topic("gw-flood"), ev.model_dump_json(), qos=1)
                time.sleep(0.05)

        def wrong_login(i: int, user: str, addr: str) -> tuple[int, float]:
            t0 = time.monotonic()
            with httpx.Client(base_url=s.url, timeout=120) as h:
                r = h.post(
                    "/api/auth/login",
                    json={"username": user, "password": f"wrong-{i}"},
                    headers={"X-Forwarded-For": addr},
                )
            return r.status_code, time.monotonic() - t0

        def flood(user_of: object, addr_of: object) -> tuple[Counter[int], float, float]:
            n0 = len(probe.samples)
            t0 = time.monotonic()
            with ThreadPoolExecutor(N_LOGINS) as pool:
                got = list(
                    pool.map(
                        lambda i: wrong_login(i, user_of(i), addr_of(i)),  # type: ignore[operator]
                        range(N_LOGINS),
                    )
                )
            wall = time.monotonic() - t0
            return Counter(c for c, _ in got), wall, n0

        sender = threading.Thread(target=publish)
        sender.start()
        # 1. 40 different accounts from 40 addresses: 40 argon2 checks, all 401.
        codes, wall, n0 = flood(lambda i: f"nobody{i}", lambda i: f"198.51.100.{i + 1}")
        during = probe.samples[n0:]
        report["distinct_accounts"] = {
            "codes": dict(codes),
            "wall_s": round(wall, 2),
            "health": stats(during),
        }
        assert codes == Counter({401: N_LOGINS}), codes
        # 2. 40 at once on one account from one address: the throttle lets 10 through
        #    (http.login_per_account, one shared bucket), the rest are 429 at once.
        codes, wall, n1 = flood(lambda i: "ada", lambda i: "203.0.113.9")
        report["one_account"] = {
            "codes": dict(codes),
            "wall_s": round(wall, 2),
            "health": stats(probe.samples[n1:]),
        }
        assert codes == Counter({401: 10, 429: N_LOGINS - 10}), codes
        sender.join()
        t_sent = time.monotonic()
        deadline = t_sent + 90
        while stored(db_url) < N_EVENTS and time.monotonic() < deadline:
            time.sleep(0.1)
        report["events_stored"] = stored(db_url)
        report["all_stored_s_after_last_publish"] = round(time.monotonic() - t_sent, 2)
        probe.stop.set()
        probe.join(10)
        edge.loop_stop()
        edge.disconnect()
        report["health_baseline"] = stats(baseline)
        report["health_statuses"] = dict(Counter(c for c, _ in probe.samples))
        print("\nFRONTDOOR_LOGIN_FLOOD", json.dumps(report))
        assert report["events_stored"] == N_EVENTS
        assert {c for c, _ in probe.samples} == {200}, report["health_statuses"]
        log = (tmp_path / "serve.log").read_text()
        assert "database is locked" not in log and "Traceback" not in log, log[-3000:]
