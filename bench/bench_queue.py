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
query alone, ``count_waiting_ms`` the count alone. ``counts``: the totals a page shows
read from the trigger-kept counts (migration queue_0002) against the COUNT(*) every
page ran before (the same ``list_queue`` with the old total: the baseline), and what
the triggers cost a writer (5000 inserts / status changes with and without them).
The data: 80% waiting (matched), 15% unidentified, 5% decided, over 90 days, 20 cameras
on 10 gateways.
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
from central.migrations.versions.queue_0002_status_counts import (  # noqa: E402
    create_triggers,
    drop_triggers,
)
from central.store import status_counts  # noqa: E402
from central.store.models import Device, Event, EventStatusCount, Person  # noqa: E402
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
    fn()  # warm: statement caches, the pages the query touches
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


def kept_count(ctx: Context) -> None:
    with ctx.sessions() as s:
        status_counts.count(s, ["pending_review", "second_review"])


def old_total(session: Any, f: wq.QueueFilter, cond: list[Any]) -> int:
    """The baseline: the exact COUNT(*) every page ran before queue_0002."""
    return int(session.execute(sa.select(sa.func.count()).select_from(Event).where(*cond)).one()[0])


def counts(ctx: Context, repeat: int) -> dict[str, float]:
    """The totals: COUNT(*) against the trigger-kept counts, and a whole queue page with
    each, in the same run on the same data; then what the triggers cost a writer."""

    def page(f: wq.QueueFilter) -> Any:
        def run() -> None:
            with ctx.sessions.begin() as s:
                wq.list_queue(s, OPERATOR, f, limit=PAGE)

        return run

    f = wq.QueueFilter
    with ctx.sessions.begin() as s:
        status_counts.compact(s)
    vacuum_counts(ctx)
    out = {
        "count_star_waiting_ms": timed(lambda: count_only(ctx), repeat),
        "kept_count_waiting_ms": timed(lambda: kept_count(ctx), repeat),
        "list_queue_page_1_ms": timed(page(f()), repeat),
        "list_queue_history_ms": timed(page(f(status="decided", sort="decided")), repeat),
        "list_queue_score_sort_ms": timed(page(f(sort="score_high")), repeat),
    }
    new_total = wq._total
    wq._total = old_total
    try:
        out |= {
            "count_star_list_queue_page_1_ms": timed(page(f()), repeat),
            "count_star_list_queue_history_ms": timed(
                page(f(status="decided", sort="decided")), repeat
            ),
            "count_star_list_queue_score_sort_ms": timed(page(f(sort="score_high")), repeat),
        }
    finally:
        wq._total = new_total
    # The longest the deltas get before a page folds them (COMPACT_AT rows unfolded).
    writes(ctx, status_counts.COMPACT_AT, triggers=True)
    out["kept_count_unfolded_ms"] = timed(lambda: kept_count(ctx), repeat)
    with ctx.sessions() as s:
        out["delta_rows_unfolded"] = status_counts.rows(s)
    t = time.perf_counter()
    with ctx.sessions.begin() as s:
        status_counts.compact(s)
    out["compact_unfolded_ms"] = round((time.perf_counter() - t) * 1000, 2)
    # PostgreSQL: the folded rows stay as dead tuples until (auto)vacuum; right after a
    # fold the sum still walks them (autovacuum visits a table this small about once a
    # minute once ~50 rows are dead).
    out["kept_count_after_fold_before_vacuum_ms"] = timed(lambda: kept_count(ctx), repeat)
    vacuum_counts(ctx)
    # A writer's cost: the same inserts and status changes with and without the triggers.
    for triggers in (True, False, True, False):
        key = "with" if triggers else "without"
        ins, upd = writes(ctx, 5000, triggers)
        out[f"insert_5000_{key}_triggers_ms"] = min(
            out.get(f"insert_5000_{key}_triggers_ms", 1e9), ins
        )
        out[f"update_5000_{key}_triggers_ms"] = min(
            out.get(f"update_5000_{key}_triggers_ms", 1e9), upd
        )
    with ctx.sessions() as s:
        exact = dict(
            s.execute(sa.select(Event.status, sa.func.count()).group_by(Event.status)).all()
        )
        kept = status_counts.counts(s)
    out["kept_equals_count_star"] = kept == exact  # a bench that checks what it measures
    return out


def vacuum_counts(ctx: Context) -> None:
    """The fill's 200,000 folded delta rows gone, as autovacuum leaves the table in use."""
    if ctx.engine.dialect.name == "postgresql":
        with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text("VACUUM ANALYZE event_status_counts"))


def writes(ctx: Context, n: int, triggers: bool) -> tuple[float, float]:
    """Insert ``n`` waiting events one statement each (as ingest stores them), then
    dismiss them one UPDATE each; (insert ms, update ms). Without the triggers, the
    counts are rebuilt afterwards so the data stay right."""
    if not triggers:
        with ctx.engine.begin() as c:
            drop_triggers(c)
    ids = [str(uuid.uuid4()) for _ in range(n)]
    t = time.perf_counter()
    with ctx.engine.begin() as c:
        for eid in ids:
            c.execute(sa.insert(Event).values(
                event_id=eid, device_id="gw-0", camera_id="cam-1", occurred=T0, received=T0,
                offence_code="ped_red", status="pending_review", payload={},
            ))  # fmt: skip
    ins = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    with ctx.engine.begin() as c:
        for eid in ids:
            c.execute(
                sa.update(Event).where(Event.event_id == eid)
                .values(status="dismissed", decided_at=T0, reason_code="poor_evidence")
            )  # fmt: skip
    upd = (time.perf_counter() - t) * 1000
    if not triggers:
        with ctx.engine.begin() as c:
            create_triggers(c)
            c.execute(sa.delete(EventStatusCount))
            c.execute(sa.text("INSERT INTO event_status_counts (status, n) "
                              "SELECT status, COUNT(*) FROM events GROUP BY status"))  # fmt: skip
    return round(ins, 1), round(upd, 1)


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
        kept = counts(ctx, repeat)  # after: its writes add 22,000 dismissed events
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
    c = kept
    ratios |= {
        "count_star_vs_kept_count": r(c["count_star_waiting_ms"], c["kept_count_waiting_ms"]),
        "count_star_vs_kept_list_queue_page_1": r(
            c["count_star_list_queue_page_1_ms"], c["list_queue_page_1_ms"]
        ),
        "count_star_vs_kept_list_queue_score_sort": r(
            c["count_star_list_queue_score_sort_ms"], c["list_queue_score_sort_ms"]
        ),
        "insert_with_vs_without_triggers": r(
            c["insert_5000_with_triggers_ms"], c["insert_5000_without_triggers_ms"]
        ),
        "update_with_vs_without_triggers": r(
            c["update_5000_with_triggers_ms"], c["update_5000_without_triggers_ms"]
        ),
    }
    return {"counts": kept, "with_indexes": with_idx, "without_queue_indexes": without,
            "ratios": ratios}  # fmt: skip


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
