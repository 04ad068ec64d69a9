"""Gallery search: latency p50/p99 and recall@1 of the usearch index vs exact numpy search.

    python bench/bench_gallery.py [--sizes 10000 100000 1000000] [--ef 128 256 512]
                                  [--queries 300] [--cache DIR | --no-cache]

Synthetic data: unit vectors uniform on the 128-d sphere (the hardest case for a graph
index: no cluster structure), probes at genuine-pair cosine ~0.7 to a random entry.
Single-query latency (one violator at a time, as on the edge), 1 search thread. Prints
JSON; ``speedup`` is exact p99 / indexed p99 measured in the same run.

Building the 1M-entry graph takes tens of minutes on 2 cores, so built indexes are kept in
``--cache`` (keyed by size, seed, index settings and usearch version; the data is
regenerated from the seed and checked against the cached index's size). The build may
run on a busy machine; the search figures want a quiet one, so the JSON records the load
average before and after the timed part — read them before quoting the milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from edge.faces.config import IndexConfig
from edge.gallery.index import ExactIndex, UsearchIndex

DIM = 128
DATA_VERSION = 1  # bump when make() changes: cached indexes of older data are not reused


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make(n: int, q: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform unit embeddings and ``q`` probes, each near one random entry."""
    rng = np.random.default_rng(seed)
    emb = np.empty((n, DIM), np.float32)
    for i in range(0, n, 100_000):  # chunked: no float64 copy of 1M x 128
        emb[i : i + 100_000] = unit(rng.standard_normal((min(100_000, n - i), DIM), np.float32))
    src = rng.choice(n, q, replace=False)
    probes = unit(emb[src] + rng.standard_normal((q, DIM), np.float32) / np.sqrt(DIM))
    return emb, probes


def latencies(index, probes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    ids, times = [], []
    for p in probes:
        t0 = time.perf_counter()
        _, i = index.search(p[None], k)
        times.append((time.perf_counter() - t0) * 1000)
        ids.append(i[0, 0])
    return np.array(times), np.array(ids)


def cache_path(cache: Path, n: int, seed: int, cfg: IndexConfig) -> Path:
    from usearch import __version__ as usearch_version

    name = (
        f"uniform{DIM}-v{DATA_VERSION}-n{n}-s{seed}-{cfg.dtype}-m{cfg.connectivity}"
        f"-efa{cfg.expansion_add}-usearch{usearch_version}.usearch"
    )
    return cache / name


def load_or_build(
    emb: np.ndarray, cfg: IndexConfig, path: Path | None
) -> tuple[UsearchIndex, float | None]:
    """The index from ``path`` if it holds one of this data's size, else built (and saved).

    Returns the index and the build time in seconds (None when it came from the cache).
    """
    if path is not None and path.is_file():
        ann = UsearchIndex(emb, cfg, prebuilt=np.fromfile(path, np.uint8))
        if ann.restored:
            return ann, None
    t0 = time.perf_counter()
    ann = UsearchIndex(emb, cfg, progress=True)
    build_s = time.perf_counter() - t0
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        ann.to_bytes().tofile(tmp)
        tmp.replace(path)  # a killed run leaves no half-written index behind
    return ann, build_s


def bench(
    n: int, queries: int, k: int, cfg: IndexConfig, efs: list[int], cache: Path | None
) -> dict:
    seed = n
    emb, probes = make(n, queries, seed=seed)
    exact = ExactIndex(emb)
    ann, build_s = load_or_build(emb, cfg, cache and cache_path(cache, n, seed, cfg))
    load_before = os.getloadavg()
    latencies(exact, probes[:10], k)  # warm-up
    t_ex, id_ex = latencies(exact, probes, k)
    p = lambda t, q: round(float(np.percentile(t, q)), 3)  # noqa: E731
    out: dict = {
        "entries": n,
        "exact_ms": {"p50": p(t_ex, 50), "p99": p(t_ex, 99)},
        "usearch_build_s": None if build_s is None else round(build_s, 1),
        "usearch_from_cache": build_s is None,
        "usearch_memory_mb": round(ann.memory_bytes / 1e6),
        "usearch": [],
    }
    for ef in efs:  # the same graph searched with wider beams
        ann.expansion_search = ef
        latencies(ann, probes[:10], k)
        t_ann, id_ann = latencies(ann, probes, k)
        recall = float(np.mean(id_ann == id_ex))
        out["usearch"].append(
            {
                "expansion_search": ef,
                "p50_ms": p(t_ann, 50),
                "p99_ms": p(t_ann, 99),
                "recall_at_1": recall,
                "speedup_p99_vs_exact": round(
                    float(np.percentile(t_ex, 99) / np.percentile(t_ann, 99)), 2
                ),
                "target_p99_10ms_met": bool(np.percentile(t_ann, 99) <= 10.0),
                "target_recall_0.99_met": recall >= 0.99,
            }
        )
    out["loadavg_1min_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--ef", type=int, nargs="+", help="expansion_search values (default: config)")
    ap.add_argument("--connectivity", type=int, help="override the shipped config's value")
    ap.add_argument("--expansion-add", type=int, help="override the shipped config's value")
    ap.add_argument("--dtype", choices=["f32", "f16", "i8"], help="override the index dtype")
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        / "jaywatch"
        / "bench_gallery",
        help="folder for built indexes (default: %(default)s)",
    )
    ap.add_argument("--no-cache", action="store_true", help="always build, keep nothing")
    args = ap.parse_args()
    overrides = {
        key: val
        for key, val in (
            ("connectivity", args.connectivity),
            ("expansion_add", args.expansion_add),
            ("dtype", args.dtype),
        )
        if val is not None
    }
    cfg = IndexConfig(**overrides)
    efs = args.ef or [cfg.expansion_search]
    cache = None if args.no_cache else args.cache
    out = {
        "cpu_count": os.cpu_count(),
        "index": cfg.model_dump(),
        "k": args.k,
        "results": [bench(n, args.queries, args.k, cfg, efs, cache) for n in args.sizes],
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
