"""Gallery search: latency p50/p99 and recall@1 of the indexed search vs exact numpy search.

    python bench/bench_gallery.py [--sizes 10000 100000 1000000] [--queries 300]
                                  [--probe-cos 0.7 0.5] [--bits N] [--rerank N]

Synthetic data: unit vectors uniform on the 128-d sphere (the hardest case for any index:
no cluster structure), probes at a given cosine to one random entry (0.7 is typical of a
genuine pair: real SFace pairs measured 0.71-0.89 in notes/models.md; 0.5 is a poor face
near the shipped threshold). Single-query latency (one violator at a time, as on the
edge), the configured number of search threads (1). Prints JSON; ``speedup`` is exact p99
/ indexed p99 measured in the same run, and the load average before and after the timed
part says how quiet the machine was.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from tqdm import tqdm

from edge.faces.config import IndexConfig
from edge.gallery.index import ExactIndex, LshIndex

DIM = 128


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make_gallery(n: int, seed: int) -> np.ndarray:
    """``n`` unit embeddings uniform on the sphere (chunked: no float64 copy of 1M x 128)."""
    rng = np.random.default_rng(seed)
    emb = np.empty((n, DIM), np.float32)
    for i in range(0, n, 100_000):
        emb[i : i + 100_000] = unit(rng.standard_normal((min(100_000, n - i), DIM), np.float32))
    return emb


def make_probes(emb: np.ndarray, q: int, cos: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``q`` probes, each at cosine ~``cos`` to one random entry, and those entries' rows.

    Noise of norm ``sigma`` orthogonal-ish to a unit vector gives cosine 1/sqrt(1+sigma^2).
    """
    rng = np.random.default_rng(seed)
    src = rng.choice(len(emb), q, replace=False)
    sigma = np.sqrt(1 / cos**2 - 1)
    noise = sigma * rng.standard_normal((q, DIM), np.float32) / np.sqrt(DIM)
    return unit(emb[src] + noise), src


def latencies(index, probes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    ids, times = [], []
    for p in probes:
        t0 = time.perf_counter()
        _, i = index.search(p[None], k)
        times.append((time.perf_counter() - t0) * 1000)
        ids.append(i[0, 0])
    return np.array(times), np.array(ids)


def bench(n: int, queries: int, k: int, cfg: IndexConfig, coses: list[float]) -> dict:
    emb = make_gallery(n, seed=n)
    exact = ExactIndex(emb)
    t0 = time.perf_counter()
    ann = LshIndex(emb, cfg)
    build_s = time.perf_counter() - t0
    p = lambda t, q: round(float(np.percentile(t, q)), 3)  # noqa: E731
    out: dict = {
        "entries": n,
        "index_build_s": round(build_s, 2),
        "index_codes_mb": round(ann.memory_bytes / 1e6, 1),
        "embeddings_mb": round(emb.nbytes / 1e6, 1),
        "probes": [],
    }
    load_before = os.getloadavg()[0]
    for cos in coses:
        probes, src = make_probes(emb, queries, cos, seed=n + 1)
        latencies(exact, probes[:10], k)  # warm-up
        t_ex, id_ex = latencies(exact, probes, k)
        latencies(ann, probes[:10], k)
        t_ann, id_ann = latencies(ann, probes, k)
        recall = float(np.mean(id_ann == id_ex))
        out["probes"].append(
            {
                "probe_cos": cos,
                "exact_ms": {"p50": p(t_ex, 50), "p99": p(t_ex, 99)},
                "indexed_ms": {"p50": p(t_ann, 50), "p99": p(t_ann, 99)},
                "recall_at_1": round(recall, 4),
                # How often exact search itself ranks the probe's source first: below 1, the
                # probe is ambiguous among this many random entries whatever the index.
                "exact_top1_is_source": round(float(np.mean(id_ex == src)), 4),
                "speedup_p99_vs_exact": round(
                    float(np.percentile(t_ex, 99) / np.percentile(t_ann, 99)), 2
                ),
                "target_p99_10ms_met": bool(np.percentile(t_ann, 99) <= 10.0),
                "target_recall_0.99_met": recall >= 0.99,
            }
        )
    out["loadavg_1min_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--probe-cos", type=float, nargs="+", default=[0.7, 0.5])
    ap.add_argument("--bits", type=int, choices=[128, 256, 512], help="override the config")
    ap.add_argument("--rerank", type=int, help="override the config")
    args = ap.parse_args()
    overrides = {"bits": args.bits, "rerank": args.rerank}
    cfg = IndexConfig(**{key: val for key, val in overrides.items() if val is not None})
    results = [
        bench(n, args.queries, args.k, cfg, args.probe_cos)
        for n in tqdm(args.sizes, desc="gallery sizes", unit="size")
    ]
    out = {"cpu_count": os.cpu_count(), "index": cfg.model_dump(), "k": args.k, "results": results}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
