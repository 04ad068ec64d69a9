"""Gallery search: latency p50/p99 and recall@1 of the usearch index vs exact numpy search.

    python bench/bench_gallery.py [--sizes 10000 100000 1000000] [--queries 300]

Synthetic data: unit vectors uniform on the 128-d sphere (the hardest case for a graph
index: no cluster structure), probes at genuine-pair cosine ~0.7 to a random entry.
Single-query latency (one violator at a time, as on the edge), 1 search thread. Prints
JSON; ``speedup`` is exact p99 / indexed p99 measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from edge.faces.config import IndexConfig
from edge.gallery.index import ExactIndex, UsearchIndex


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make(n: int, q: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    emb = np.empty((n, 128), np.float32)
    for i in range(0, n, 100_000):  # chunked: no float64 copy of 1M x 128
        emb[i : i + 100_000] = unit(rng.standard_normal((min(100_000, n - i), 128), np.float32))
    src = rng.choice(n, q, replace=False)
    probes = unit(emb[src] + rng.standard_normal((q, 128), np.float32) / np.sqrt(128))
    return emb, probes


def latencies(index, probes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    ids, times = [], []
    for p in probes:
        t0 = time.perf_counter()
        _, i = index.search(p[None], k)
        times.append((time.perf_counter() - t0) * 1000)
        ids.append(i[0, 0])
    return np.array(times), np.array(ids)


def bench(n: int, queries: int, k: int, cfg: IndexConfig, efs: list[int]) -> dict:
    emb, probes = make(n, queries, seed=n)
    exact = ExactIndex(emb)
    latencies(exact, probes[:10], k)  # warm-up
    t_ex, id_ex = latencies(exact, probes, k)
    t0 = time.perf_counter()
    ann = UsearchIndex(emb, cfg)
    build_s = time.perf_counter() - t0
    p = lambda t, q: round(float(np.percentile(t, q)), 3)  # noqa: E731
    out: dict = {
        "entries": n,
        "exact_ms": {"p50": p(t_ex, 50), "p99": p(t_ex, 99)},
        "usearch_build_s": round(build_s, 1),
        "usearch": [],
    }
    for ef in efs:  # the same graph searched with wider beams
        ann._index.expansion_search = ef
        latencies(ann, probes[:10], k)
        t_ann, id_ann = latencies(ann, probes, k)
        out["usearch"].append(
            {
                "expansion_search": ef,
                "p50_ms": p(t_ann, 50),
                "p99_ms": p(t_ann, 99),
                "recall_at_1": float(np.mean(id_ann == id_ex)),
                "speedup_p99_vs_exact": round(
                    float(np.percentile(t_ex, 99) / np.percentile(t_ann, 99)), 2
                ),
                "target_p99_10ms_met": bool(np.percentile(t_ann, 99) <= 10.0),
                "target_recall_0.99_met": bool(np.mean(id_ann == id_ex) >= 0.99),
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--ef", type=int, nargs="+", help="expansion_search values (default: config)")
    args = ap.parse_args()
    cfg = IndexConfig()
    efs = args.ef or [cfg.expansion_search]
    out = {
        "cpu_count": os.cpu_count(),
        "index": cfg.model_dump(),
        "k": args.k,
        "results": [bench(n, args.queries, args.k, cfg, efs) for n in args.sizes],
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
