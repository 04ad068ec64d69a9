"""Benchmark: the review queue at a city's size (default 200,000 events) on SQLite and
PostgreSQL — first page vs page 500 with keyset pages, next to OFFSET paging (the
baseline this design avoids) and to the same queries without the queue_0001 indexes,
all in the same run on the same data.

    .venv/bin/python bench/bench_queue.py [--events 200000] [--repeat 7]
        [--backends sqlite postgresql]

Prints one JSON object on stdout (progress on stderr). Each figure is the median of
``--repeat`` calls, 50 rows a page: ``keyset_page_*`` and the filtered ones time
``central.workflow.queue.list_queue`` (what the API and the console call: the total
count + the page + claims + an audit entry); ``keyset_query_*`` and ``offset_*`` the page
query alone, ``count_waiting_ms`` the count alone. The data: 80% waiting
(matched), 15% unidentified, 5% decided, over 90 days, 20 cameras on 10 gateways.
PostgreSQL: $JAYWATCH_TEST_PG_URL or postgres@127.0.0.1:5432 (a fresh database per run).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from central.config import CentralConfig  # noqa: E402
from central.context import Context  # noqa: E402
from central.migrations.versions.queue_0001_claims_indexes import INDEXES  # noqa: E402
from central.store.models import Device, Event, Person  # noqa: E402
from central.workflow import queue as wq  # noqa: E402
from central.workflow.common import Actor  # noqa: E402
from tests.services import fresh_pg_database, pg_admin_url  # noqa: E402

OPERATOR = Actor("bench", "operator", None)
PAGE = 50
T0 = datetime(2026, 9, 1, tzinfo=UTC)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fill(ctx: Context, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with ctx.sessions.begin() as s:
        for g in range(10):
            cams = [{"camera_id": "cam-1"}, {"camera_id": "cam-2"}]
            s.add(Device(id=f"gw-{g}", public_key=bytes(32), mqtt_username=f"gw-{g}",
                         place=f"Junction {g}", cameras=cams))  # fmt: skip
        persons = [str(uuid.uuid4()) for _ in range(500)]
        for i, p in enumerate(persons):
            s.add(Person(id=p, name=f"Person {i}", lawful_basis="bench"))
    rows: list[dict[str, Any]] = []
    t = time.perf_counter()
    with ctx.engine.begin() as c:
        for _ in range(n):
            r = rng.random()
            status = "pending_review" if r < 0.80 else "unidentified" if r < 0.95 else "dismissed"
            occurred = T0 + timedelta(seconds=rng.uniform(0, 90 * 86400))
            matched = status != "unidentified"
            rows.append({
                "event_id": str(uuid.uuid4()), "device_id": f"gw-{rng.randrange(10)}",
                "camera_id": f"cam-{rng.randrange(1, 3)}", "occurred": occurred,
                "received": occurred + timedelta(seconds=rng.uniform(1, 30)),
                "offence_code": "ped_red", "status": status,
                "match_person_id": rng.choice(persons) if matched else None,
                "match_score": round(rng.uniform(0.36, 0.99), 4) if matched else None,
                "payload": {"signal": {"red_for_s": round(rng.uniform(1, 20), 1)}},
                "decided_at": occurred + timedelta(hours=1) if status == "dismissed" else None,
                "reason_code": "poor_evidence" if status == "dismissed" else None,
            })  # fmt: skip
            if len(rows) == 5000:
                c.execute(sa.insert(Event), rows)
                rows.clear()
        if rows:
            c.execute(sa.insert(Event), rows)
    if ctx.engine.dialect.name == "postgresql":
        with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text("VACUUM ANALYZE events"))
    else:
        with ctx.engine.begin() as c:
            c.execute(sa.text("ANALYZE"))
    log(f"  {n} events stored in {time.perf_counter() - t:.1f} s")


def timed(fn: Any, repeat: int) -> float:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(out), 2)


def cursor_at(ctx: Context, page: int, sort: str = "oldest") -> str:
    """The cursor that starts page ``page`` (1-based) of the waiting queue."""
    with ctx.sessions() as s:
        col, desc = wq._sort_column(sort)
        order = (col.desc(), Event.id.desc()) if desc else (col, Event.id)
        v, pk = s.execute(
            sa.select(col, Event.id).where(Event.status == "pending_review")
            .order_by(*order).offset((page - 1) * PAGE - 1).limit(1)
        ).one()  # fmt: skip
    return wq.encode_cursor(sort, v, pk)


def offset_page(ctx: Context, page: int) -> None:
    """The baseline: the same page by OFFSET (what keyset pages replace)."""
    with ctx.sessions() as s:
        list(s.execute(
            sa.select(Event).where(Event.status == "pending_review")
            .order_by(Event.occurred, Event.id).offset((page - 1) * PAGE).limit(PAGE)
        ).scalars())  # fmt: skip


def keyset_raw(ctx: Context, cursor: str | None) -> None:
    """The page query alone (no count, no audit entry): to compare with OFFSET."""
    col, desc = wq._sort_column("oldest")
    q = sa.select(Event).where(Event.status == "pending_review")
    if cursor:
        q = q.where(*wq.after_cursor(col, desc, *wq.decode_cursor(cursor, "oldest")))
    with ctx.sessions() as s:
        list(s.execute(q.order_by(Event.occurred, Event.id).limit(PAGE)).scalars())


def count_only(ctx: Context) -> None:
    with ctx.sessions() as s:
        s.execute(sa.select(sa.func.count(Event.id)).where(Event.status == "pending_review")).one()


def queries(ctx: Context, repeat: int) -> dict[str, float]:
    def page(f: wq.QueueFilter, cursor: str | None = None) -> Any:
        def run() -> None:
            with ctx.sessions.begin() as s:
                wq.list_queue(s, OPERATOR, f, cursor=cursor, limit=PAGE)

        return run

    f = wq.QueueFilter
    c500 = cursor_at(ctx, 500)
    c500_score = cursor_at(ctx, 500, "score_high")
    day30 = (T0 + timedelta(days=30)).date()
    week = f(device_id="gw-3", camera_id="cam-2", date_from=day30, date_to=day30 + timedelta(7))
    return {
        "keyset_page_1_ms": timed(page(f()), repeat),
        "keyset_page_500_ms": timed(page(f(), c500), repeat),
        "keyset_query_page_1_ms": timed(lambda: keyset_raw(ctx, None), repeat),
        "keyset_query_page_500_ms": timed(lambda: keyset_raw(ctx, c500), repeat),
        "count_waiting_ms": timed(lambda: count_only(ctx), repeat),
        "offset_page_1_ms": timed(lambda: offset_page(ctx, 1), repeat),
        "offset_page_500_ms": timed(lambda: offset_page(ctx, 500), repeat),
        "score_sort_page_1_ms": timed(page(f(sort="score_high")), repeat),
        "score_sort_page_500_ms": timed(page(f(sort="score_high"), c500_score), repeat),
        "camera_week_page_1_ms": timed(page(week), repeat),
        "history_page_1_ms": timed(page(f(status="decided", sort="decided")), repeat),
        "search_person_ms": timed(page(f(q="Person 42")), repeat),
    }


def drop_indexes(ctx: Context) -> None:
    with ctx.engine.begin() as c:
        for name in INDEXES:
            c.execute(sa.text(f"DROP INDEX {name}"))
        if ctx.engine.dialect.name == "sqlite":
            c.execute(sa.text("ANALYZE"))
    if ctx.engine.dialect.name == "postgresql":
        with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text("ANALYZE events"))


def run(url: str, tmp: Path, n: int, repeat: int) -> dict[str, Any]:
    ctx = Context.from_config(
        CentralConfig(database_url=url, evidence_dir=str(tmp / "ev"),
                      fines_file=str(REPO / "config" / "fines.yaml"))
    )  # fmt: skip
    try:
        fill(ctx, n)
        with_idx = queries(ctx, repeat)
        drop_indexes(ctx)
        without = queries(ctx, repeat)
    finally:
        ctx.close()
    w, wo = with_idx, without

    def r(a: float, b: float) -> float:
        return round(a / b, 2) if b else float("nan")

    ratios = {
        "offset_vs_keyset_query_page_500": r(
            w["offset_page_500_ms"], w["keyset_query_page_500_ms"]
        ),
        "keyset_query_page_500_vs_page_1": r(
            w["keyset_query_page_500_ms"], w["keyset_query_page_1_ms"]
        ),
        "list_queue_page_500_vs_page_1": r(w["keyset_page_500_ms"], w["keyset_page_1_ms"]),
        "no_index_vs_index_score_page_500": r(
            wo["score_sort_page_500_ms"], w["score_sort_page_500_ms"]
        ),
        "no_index_vs_index_history_page_1": r(wo["history_page_1_ms"], w["history_page_1_ms"]),
        "no_index_vs_index_camera_week": r(wo["camera_week_page_1_ms"], w["camera_week_page_1_ms"]),
    }
    return {"with_indexes": with_idx, "without_queue_indexes": without, "ratios": ratios}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    a = ap.parse_args()
    out: dict[str, Any] = {"events": a.events, "page": PAGE, "repeat": a.repeat,
                           "load_before": os.getloadavg()[0]}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for b in a.backends:
            log(f"{b}: filling")
            if b == "sqlite":
                out[b] = run(f"sqlite:///{tmp}/bench.db", Path(tmp), a.events, a.repeat)
            else:
                with fresh_pg_database(pg_admin_url()) as pg:
                    out[b] = run(pg, Path(tmp), a.events, a.repeat)
    out["load_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
