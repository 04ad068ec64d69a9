"""argon2 verification off the event loop and off the shared thread pool, a few at a time.

Each check costs ~50 ms of a core and 64 MiB. Run in the request thread pool, 40 logins
at once would take every worker (health checks and pages queue behind them) and 2.5 GiB.
Here they run on a pool of their own (``concurrency`` threads); waiting for it holds no
thread, and more than ``max_waiting`` waiting is refused at once (503, Retry-After), so a
flood from many addresses costs a bounded queue, not memory or the other routes' threads.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from central.workflow.users import verify_password


class Busy(Exception):
    """Too many password checks waiting: try again shortly."""

    retry_after_s = 2


class PasswordChecks:
    def __init__(self, concurrency: int, max_waiting: int) -> None:
        self.concurrency = concurrency
        self.max_waiting = max_waiting
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="argon2")
        self._lock = threading.Lock()
        self._in_flight = 0  # running + waiting

    async def verify(self, password_hash: str | None, password: str) -> bool:
        with self._lock:
            if self._in_flight >= self.concurrency + self.max_waiting:
                raise Busy()
            self._in_flight += 1
        try:
            fut = self._pool.submit(verify_password, password_hash, password)
            return await asyncio.wrap_future(fut)
        finally:
            with self._lock:
                self._in_flight -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
