"""One CPU thread plan for the whole gateway, chosen once at start and logged.

Every camera used to open its own detector session with ``detector.threads`` intra-op
threads: 8 cameras × 2 threads on a 2-core gateway is 16 inference threads fighting for
2 cores, plus OpenCV's own pool in each camera thread. The gateway instead runs one
shared detector pool (edge/detectors/pool.py) whose few workers run inference for every
camera, with the thread counts below; cameras only decode, gate motion, track and judge.

    plan = plan_threads(DetectorPoolConfig(), cores=2, cameras=8)
    plan.describe()  # "thread plan: 2 cores, 8 cameras; detector pool 2 worker(s) × 1 ..."
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.gateway_config import DetectorPoolConfig

# More inference threads than this per core only adds context switches (measured on the
# 2-core machine: 2 sessions x 2 threads were slower than 2 x 1 under load).
MAX_THREADS_PER_CORE = 4


class ThreadPlanError(ValueError):
    """A ``detector_pool`` setting that cannot work on this machine; names the key."""


@dataclass(frozen=True, slots=True)
class ThreadPlan:
    """How the gateway's inference uses the CPU.

    Attributes:
        cores: CPUs this process may run on.
        cameras: cameras on the gateway.
        workers: detector pool threads (each runs one inference at a time).
        intra_op_threads: onnxruntime intra-op threads per inference.
        inter_op_threads: onnxruntime inter-op threads (1: the graphs are chains).
        max_batch: frames or tiles, across cameras, run in one inference at most.
        opencv_threads: ``cv2.setNumThreads`` for the process (camera threads already
            run in parallel; OpenCV's own pool on top of them oversubscribes).
    """

    cores: int
    cameras: int
    workers: int
    intra_op_threads: int
    inter_op_threads: int
    max_batch: int
    opencv_threads: int

    def describe(self) -> str:
        return (
            f"thread plan: {self.cores} core(s), {self.cameras} camera(s); detector pool "
            f"{self.workers} worker(s) × {self.intra_op_threads} intra-op thread(s), "
            f"{self.inter_op_threads} inter-op, batches of up to {self.max_batch} across "
            f"cameras; OpenCV {self.opencv_threads} thread(s); face models 1 thread each"
        )

    def apply_process_wide(self) -> None:
        """Set what is process-wide (OpenCV's pool size)."""
        import cv2

        cv2.setNumThreads(self.opencv_threads)


def available_cores() -> int:
    """CPUs this process may use (its affinity mask, e.g. a container's cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def plan_threads(cfg: DetectorPoolConfig, cores: int, cameras: int) -> ThreadPlan:
    """Resolve ``auto`` values and check the rest against ``cores``.

    ``auto``: as many workers as cores (up to 2 per 4 cores above 2 cores: larger
    machines gain more from intra-op threads than from more sessions in flight), each
    with the remaining cores' share of intra-op threads, so workers × threads = cores.

    Raises:
        ThreadPlanError: one line naming the ``detector_pool`` key and what was expected.
    """
    if cores < 1:
        raise ThreadPlanError(f"cores: expected >= 1, got {cores}")
    auto_workers = cores if cores <= 2 else max(2, cores // 2)
    workers = auto_workers if cfg.workers == "auto" else cfg.workers
    auto_intra = max(1, cores // workers)
    intra = auto_intra if cfg.intra_op_threads == "auto" else cfg.intra_op_threads
    limit = MAX_THREADS_PER_CORE * cores
    if workers * intra > limit:
        key = "intra_op_threads" if cfg.intra_op_threads != "auto" else "workers"
        raise ThreadPlanError(
            f"detector_pool.{key}: {workers} worker(s) × {intra} intra-op thread(s) = "
            f"{workers * intra} inference threads on {cores} core(s); expected at most "
            f"{limit} ({MAX_THREADS_PER_CORE} per core)"
        )
    if workers > max(cameras, cores):
        raise ThreadPlanError(
            f"detector_pool.workers: {workers} workers for {cameras} camera(s); expected at "
            f"most {max(cameras, cores)} (one per camera or per core; more only wait)"
        )
    opencv = cfg.opencv_threads if cfg.opencv_threads != "auto" else (1 if cameras > 1 else cores)
    return ThreadPlan(
        cores=cores,
        cameras=cameras,
        workers=workers,
        intra_op_threads=intra,
        inter_op_threads=cfg.inter_op_threads,
        max_batch=cfg.max_batch,
        opencv_threads=opencv,
    )
