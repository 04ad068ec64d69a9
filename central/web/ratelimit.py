"""Per-client sliding-window limit for the public endpoints (notice lookup, login).

In memory, per process: with N processes behind a balancer the effective limit is N
times higher, still far too low to enumerate 10-character codes.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class RateLimiter:
    def __init__(self, per_minute: int, window_s: float = 60.0) -> None:
        self.limit = per_minute
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        """Count one attempt by ``key``; False when it is over the limit."""
        t = time.monotonic() if now is None else now
        with self._lock:
            q = self._hits[key]
            while q and t - q[0] >= self.window_s:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(t)
            if len(self._hits) > 100_000:  # bound memory under a spray of addresses
                for k in [k for k, v in self._hits.items() if not v][:50_000]:
                    del self._hits[k]
            return True
