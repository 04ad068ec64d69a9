"""Benchmark: what the shared rate limiter (central/frontdoor/ratelimit.py) costs per
login or notice attempt, on SQLite and PostgreSQL, next to the cheapest database round
trip there is (``SELECT 1`` on a pooled connection, ``central.store.db.ping``) and to one
argon2 password check, measured in the same run on the same machine.

    .venv/bin/python bench/bench_frontdoor_limiter.py [--attempts 2000] [--threads 1 8]

Prints one JSON object. Per backend and thread count: attempts/s and µs per attempt of
``RateLimiter.hit`` with two buckets (as a login: account + address; subjects spread over
500 accounts and 200 addresses, so rows are both new and updated), the same for ping, and
``vs_ping`` (limiter µs / ping µs). ``argon2_ms`` is one failed verification with the
shipped parameters: the limiter is meant to be noise next to it.
PostgreSQL: $JAYWATCH_TEST_PG_URL or postgres@127.0.0.1:5432 (a fresh database per run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from central.frontdoor.ratelimit import RateLimiter, Rule
from central.store.db import make_engine, migrate, ping
from central.workflow.users import verify_password

PG_ADMIN = os.environ.get(
    "JAYWATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ACCOUNT = Rule("login-account", 10, 300)
ADDRESS = Rule("login-address", 30, 300)


def timed(fn: object, n: int, threads: int) -> float:
    """Seconds for ``n`` calls of ``fn(i)`` spread over ``threads`` threads."""
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(fn, range(n)))  # type: ignore[arg-type]
    return time.perf_counter() - t0


def run(url: str, attempts: int, threads: list[int]) -> dict[str, object]:
    migrate(url)
    engine = make_engine(url, pool_size=max(threads) + 2)
    rl = RateLimiter(engine)
    out: dict[str, object] = {}
    try:
        for t in threads:
            # warm the pool
            timed(lambda i: ping(engine), 50, t)
            s_ping = timed(lambda i: ping(engine), attempts, t)
            s_hit = timed(
                lambda i: rl.hit([(ACCOUNT, f"user{i % 500}"), (ADDRESS, f"10.0.{i % 200}.1")]),
                attempts,
                t,
            )
            out[f"threads_{t}"] = {
                "limiter_attempts_per_s": round(attempts / s_hit),
                "limiter_us": round(s_hit / attempts * 1e6, 1),
                "ping_us": round(s_ping / attempts * 1e6, 1),
                "vs_ping": round(s_hit / s_ping, 2),
            }
    finally:
        engine.dispose()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--attempts", type=int, default=2000)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    args = ap.parse_args()
    t0 = time.perf_counter()
    for _ in range(3):
        verify_password(None, "wrong")
    result: dict[str, object] = {
        "attempts": args.attempts,
        "argon2_ms": round((time.perf_counter() - t0) / 3 * 1000, 1),
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }
    with tempfile.TemporaryDirectory() as d:
        result["sqlite"] = run(f"sqlite:///{d}/bench.db", args.attempts, args.threads)
    name = f"jw_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
        result["postgresql"] = run(url, args.attempts, args.threads)
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
