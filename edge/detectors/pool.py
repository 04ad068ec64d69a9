"""One detector pool for every camera of a gateway.

    camera threads (decode, motion, track, rule) ─► requests ─► queue ─► pool workers
                                                   ◄─ each request's own result ─┘

Each camera thread asks for detections and waits for its own answer; a few pool
workers (the gateway's thread plan, edge/thread_plan.py) run the inferences. A worker
takes the oldest request and whatever else is already queued for the same model (never
waiting for more: batching adds no latency), up to ``max_batch``, and runs them in one
inference when the model's input has a batch axis. Cameras that use the same model
with the same settings share one onnxruntime session (``InferenceSession.run`` is
thread-safe); every request carries its own result slot, so one camera's boxes can never
reach another.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.detectors.base import Detections

if TYPE_CHECKING:
    from edge.config import DetectorConfig
    from edge.thread_plan import ThreadPlan

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Request:
    backend: Any  # a detector with detect_batch(list) -> list[Detections]
    images: list[np.ndarray]
    camera: str
    done: threading.Event = field(default_factory=threading.Event)
    results: list[Detections] | None = None
    error: BaseException | None = None


def _backend_key(cfg: DetectorConfig) -> tuple:
    """Settings that make two cameras' detectors the same (region and tiling are per
    camera and live outside the pool)."""
    from edge.model_files import resolve_model

    return (
        str(resolve_model(cfg.model)),
        cfg.layout,
        cfg.input_size,
        tuple(cfg.person_class_ids),
        cfg.score_threshold,
        cfg.nms_iou,
    )


class DetectorPool:
    """Shared inference workers; :meth:`detector_for` gives each camera its handle."""

    def __init__(self, plan: ThreadPlan, *, start: bool = True) -> None:
        self.plan = plan
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._backends: dict[tuple, Any] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.batch_sizes: Counter[int] = Counter()  # images per inference (for benches/logs)
        self._closed = False
        self._autostart = start

    def detector_for(self, cfg: DetectorConfig, camera_id: str) -> PooledDetector:
        """This camera's detector, backed by the pool (model opened once per settings)."""
        key = _backend_key(cfg)
        with self._lock:
            backend = self._backends.get(key)
            if backend is None:
                from edge.detectors import create_detector

                backend = create_detector(
                    cfg,
                    threads=self.plan.intra_op_threads,
                    inter_op_threads=self.plan.inter_op_threads,
                )
                self._backends[key] = backend
                log.info(
                    "detector pool: %s (%s) opened once for every camera using it%s",
                    key[0],
                    cfg.layout,
                    "; batches across cameras" if getattr(backend, "batches", False) else "",
                )
            if self._autostart:
                self._start_locked()
        return PooledDetector(self, backend, camera_id)

    def start(self) -> None:
        """Start the workers (done by :meth:`detector_for` unless made with start=False)."""
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._threads:
            return
        for i in range(self.plan.workers):
            t = threading.Thread(target=self._work, name=f"detector-pool-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def run(self, backend: Any, images: list[np.ndarray], camera: str) -> list[Detections]:
        """Detections for ``images`` (one camera's frame or tiles), in their order."""
        if self._closed:
            raise RuntimeError("detector pool is closed")
        req = _Request(backend, images, camera)
        self._queue.put(req)
        req.done.wait()
        if req.error is not None:
            raise req.error
        assert req.results is not None
        return req.results

    def close(self) -> None:
        """Stop the workers (requests already queued are answered first)."""
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(10.0)
        self._threads.clear()

    # --- workers ----------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = self._gather(first)
            self._serve(batch)

    def _gather(self, first: _Request) -> list[_Request]:
        """``first`` plus requests already waiting for the same model, up to max_batch
        images (a request's images are never split)."""
        batch, n = [first], len(first.images)
        if not getattr(first.backend, "batches", False):
            return batch
        while n < self.plan.max_batch:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:  # closing: let another worker (or this one, next) see it
                self._queue.put(None)
                break
            if nxt.backend is not first.backend or n + len(nxt.images) > self.plan.max_batch:
                self._queue.put(nxt)  # another model or too big: served on its own turn
                break
            batch.append(nxt)
            n += len(nxt.images)
        return batch

    def _serve(self, batch: list[_Request]) -> None:
        backend = batch[0].backend
        images = [img for r in batch for img in r.images]
        try:
            step = self.plan.max_batch if getattr(backend, "batches", False) else 1
            results: list[Detections] = []
            for k in range(0, len(images), step):
                chunk = images[k : k + step]
                results.extend(backend.detect_batch(chunk))
                self.batch_sizes[len(chunk)] += 1
        except Exception as e:
            if len(batch) > 1:  # one camera's bad frame must not fail the others
                for r in batch:
                    self._serve([r])
                return
            batch[0].error = e
            batch[0].done.set()
            return
        except BaseException as e:  # never leave a camera waiting
            for r in batch:
                r.error = e
                r.done.set()
            raise
        i = 0
        for r in batch:
            r.results = results[i : i + len(r.images)]
            i += len(r.images)
            r.done.set()


class PooledDetector:
    """One camera's view of the pool: the :class:`~edge.detectors.base.Detector`
    interface, plus :meth:`detect_many` for tiles (one request, batched)."""

    def __init__(self, pool: DetectorPool, backend: Any, camera_id: str) -> None:
        self.pool = pool
        self.backend = backend
        self.camera_id = camera_id

    @property
    def input_size(self) -> int:
        return int(getattr(self.backend, "input_size", 300))

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        return self.pool.run(self.backend, [frame_bgr], self.camera_id)[0]

    def detect_many(self, images: list[np.ndarray]) -> list[Detections]:
        if not images:
            return []
        return self.pool.run(self.backend, images, self.camera_id)
