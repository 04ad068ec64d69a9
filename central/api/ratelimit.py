"""A small in-process sliding-window limiter for the public endpoints.

Per process: with several API processes behind a balancer each has its own budget,
so the effective limit is N × the configured one (a shared store would fix that).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class SlidingWindowLimiter:
    def __init__(self, per_minute: int, window_s: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            q = self._hits[key]
            while q and q[0] <= now - self.window_s:
                q.popleft()
            if len(q) >= self.per_minute:
                return False
            q.append(now)
            if len(self._hits) > 100_000:  # bound memory under address-spraying
                self._hits = defaultdict(deque, {k: v for k, v in self._hits.items() if v})
            return True
