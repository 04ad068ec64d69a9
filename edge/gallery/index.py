"""Nearest-neighbour search over one backend's unit-length embeddings (inner product).

Exact numpy search is used up to ``exact_max_entries``: at that size one matrix-vector
product is a fraction of a millisecond and always right. Above it, a usearch HNSW index
(why usearch: it is a single self-contained wheel already in the edge extra, builds and
searches multi-threaded in-process, needs no BLAS/OpenMP stack like faiss, and is
maintained; hnswlib has had no release since 2023).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

import numpy as np

from edge.faces.config import IndexConfig
from edge.gallery.store import Gallery


class SearchIndex(Protocol):
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, ids)``, each ``(Q, k')`` with ``k' = min(k, N)``; best first.

        Scores are inner products (cosine for unit vectors); ids index the gallery rows.
        """
        ...


class ExactIndex:
    def __init__(self, embeddings: np.ndarray) -> None:
        self._emb = np.ascontiguousarray(embeddings, np.float32)

    def __len__(self) -> int:
        return len(self._emb)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.atleast_2d(np.asarray(queries, np.float32))
        k = min(k, len(self._emb))
        if k == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        sims = q @ self._emb.T
        if k < sims.shape[1]:
            part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            part = np.broadcast_to(np.arange(sims.shape[1]), sims.shape).copy()
        top = np.take_along_axis(sims, part, 1)
        order = np.argsort(-top, axis=1, kind="stable")
        return np.take_along_axis(top, order, 1), np.take_along_axis(part, order, 1).astype(
            np.int64
        )


class UsearchIndex:
    """HNSW over inner product; keys are the gallery row numbers."""

    def __init__(
        self,
        embeddings: np.ndarray,
        cfg: IndexConfig,
        prebuilt: np.ndarray | None = None,
        *,
        progress: bool = False,
    ) -> None:
        """Restore ``prebuilt`` when it fits ``embeddings``, else build (``progress``: a bar)."""
        from usearch.index import Index

        emb = np.ascontiguousarray(embeddings, np.float32)
        self._n = len(emb)
        self.restored = False  # True when ``prebuilt`` was used rather than a fresh build
        restored = None
        if prebuilt is not None:
            try:
                restored = Index.restore(np.asarray(prebuilt, np.uint8).tobytes())
            except (RuntimeError, ValueError):  # unreadable: build afresh below
                restored = None
        if (
            restored is not None
            and len(restored) == self._n
            and restored.ndim == emb.shape[1]
            and restored.dtype.name.lower() == cfg.dtype  # a prebuilt index of other settings
        ):
            self._index = restored
            self._index.expansion_search = cfg.expansion_search
            self.restored = True
            return
        self._index = Index(
            ndim=emb.shape[1],
            # Unit vectors: cosine == inner product; usearch's i8 quantisation needs "cos".
            metric="cos" if cfg.dtype == "i8" else "ip",
            dtype=cfg.dtype,
            connectivity=cfg.connectivity,
            expansion_add=cfg.expansion_add,
            expansion_search=cfg.expansion_search,
        )
        if self._n:
            self._index.add(
                np.arange(self._n, dtype=np.uint64),
                emb,
                threads=cfg.threads,
                log="building gallery index" if progress else False,
            )

    @property
    def expansion_search(self) -> int:
        """Search beam width; wider finds more true neighbours and costs more time."""
        return int(self._index.expansion_search)

    @expansion_search.setter
    def expansion_search(self, value: int) -> None:
        self._index.expansion_search = value

    @property
    def memory_bytes(self) -> int:
        """What the graph and its vectors take in memory."""
        return int(self._index.memory_usage)

    def to_bytes(self) -> np.ndarray:
        """The serialised index (stored in the gallery file by ``jaywatch gallery build``)."""
        return np.frombuffer(self._index.save(), np.uint8)

    def __len__(self) -> int:
        return self._n

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.atleast_2d(np.asarray(queries, np.float32))
        k = min(k, self._n)
        if k == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        res = self._index.search(q, k, threads=1)
        keys = np.asarray(res.keys, np.int64).reshape(len(q), -1)[:, :k]
        dist = np.asarray(res.distances, np.float32).reshape(len(q), -1)[:, :k]
        # usearch "ip"/"cos" distance is 1 - <a, b>; unfilled slots (k > reachable) carry huge keys.
        valid = (keys >= 0) & (keys < self._n)
        scores = np.where(valid, 1.0 - dist, -np.inf).astype(np.float32)
        return scores, np.where(valid, keys, -1)


def build_index(
    embeddings: np.ndarray, cfg: IndexConfig, prebuilt: np.ndarray | None = None
) -> SearchIndex:
    """Exact up to ``cfg.exact_max_entries`` entries, HNSW above (``prebuilt`` if usable)."""
    if len(embeddings) <= cfg.exact_max_entries:
        return ExactIndex(embeddings)
    return UsearchIndex(embeddings, cfg, prebuilt)


def with_prebuilt_indexes(gallery: Gallery, cfg: IndexConfig) -> Gallery:
    """The gallery with a serialised HNSW index in every block above the exact limit."""
    blocks = {}
    for name, b in gallery.backends.items():
        if len(b.labels) > cfg.exact_max_entries:
            b = replace(b, index_bytes=UsearchIndex(b.embeddings, cfg).to_bytes())
        blocks[name] = b
    return replace(gallery, backends=blocks)
