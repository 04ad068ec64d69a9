"""Benchmark: what ``ingest.dead_letters_max_total_bytes`` costs one dead letter at a
city's dead-letter count, SQLite and PostgreSQL: the time to insert one more dead letter
with the cap (``insert_dead_letters(..., max_total)``, what ingest calls: the database's
kept total, migration dead_letters_0002) next to the same insert without it (the
baseline) and next to the check this replaced (``SUM(length(raw))`` over every dead
letter after the insert: ``old_sum_check``), same run, same data, N rows already stored.

    .venv/bin/python bench/bench_dead_letter_cap.py [--rows 20000 100000] [--repeat 9]
        [--backends sqlite postgresql] [--payload 2048]

Prints one JSON object on stdout (progress on stderr); medians of ``--repeat`` inserts,
with the load average.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402

from central.config import CentralConfig  # noqa: E402
from central.context import Context  # noqa: E402
from central.ingest.store import insert_dead_letters  # noqa: E402
from central.store.models import DeadLetter, utcnow  # noqa: E402
from tests.services import fresh_pg_database, pg_admin_url  # noqa: E402

CAP = 1 << 30
PER_TOPIC = None  # the rows spread over topics in a city; one topic's budget is not measured


def row(i: int, size: int) -> dict[str, Any]:
    p = i.to_bytes(8, "big") * (size // 8)
    return {"received": utcnow(), "topic": f"jaywatch/v1/gw-{i % 500}/violation", "reason": "bench",
            "raw": p, "size": len(p), "sha256": hashlib.sha256(p).hexdigest()}  # fmt: skip


def run(url: str, tmp: Path, counts: list[int], repeat: int, size: int) -> dict[str, Any]:
    ctx = Context.from_config(
        CentralConfig(database_url=url, evidence_dir=str(tmp / "ev"),
                      fines_file=str(REPO / "config" / "fines.yaml"))
    )  # fmt: skip
    out: dict[str, Any] = {}
    try:
        have, nxt = 0, 10**9
        for n in counts:
            with ctx.sessions.begin() as s:
                for start in range(have, n, 5000):
                    s.execute(
                        sa_insert(), [row(i, size) for i in range(start, min(n, start + 5000))]
                    )
            have = n
            print(f"{url.split(':')[0]}: {n} rows", file=sys.stderr, flush=True)
            times: dict[str, list[float]] = {"with_cap": [], "without_cap": [], "old": []}
            for _ in range(repeat):
                for label, cap in (("without_cap", None), ("with_cap", CAP), ("old", None)):
                    nxt += 1
                    t = time.perf_counter()
                    with ctx.sessions.begin() as s:
                        insert_dead_letters(s, [row(nxt, size)], cap, PER_TOPIC)
                        if label == "old":  # what evict_dead_letters did before: sum them all
                            s.execute(sa.select(sa.func.sum(sa.func.length(DeadLetter.raw))))
                    times[label].append((time.perf_counter() - t) * 1000)
            w, wo = statistics.median(times["with_cap"]), statistics.median(times["without_cap"])
            old = statistics.median(times["old"])
            out[str(n)] = {"insert_with_cap_ms": round(w, 2), "insert_without_cap_ms": round(wo, 2),
                           "old_sum_check_ms": round(old, 2), "ratio": round(w / wo, 2),
                           "old_ratio": round(old / wo, 1)}  # fmt: skip
    finally:
        ctx.close()
    return out


def sa_insert() -> Any:
    import sqlalchemy as sa

    return sa.insert(DeadLetter)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[20_000, 100_000])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--payload", type=int, default=2048)
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    a = ap.parse_args()
    res: dict[str, Any] = {"payload_bytes": a.payload, "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "sqlite" in a.backends:
            res["sqlite"] = run(f"sqlite:///{tmp / 'b.db'}", tmp, a.rows, a.repeat, a.payload)
        if "postgresql" in a.backends:
            with fresh_pg_database(pg_admin_url()) as pg:
                res["postgresql"] = run(pg, tmp, a.rows, a.repeat, a.payload)
    res["load_after"] = os.getloadavg()
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
