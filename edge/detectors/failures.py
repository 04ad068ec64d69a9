"""A camera's detector that raises on some frames: skip those frames, count, tell health.

A user's model can fail at inference time on some inputs only (an export bug hit by
one image size or content; onnxruntime then raises). Restarting the camera's pipeline
on each such frame would throw away its tracks and pending violations; letting the
camera look healthy while nothing is detected would lie. So the frame is skipped (as if
nothing moved), the failure is counted, logged at most once a minute, and
:meth:`DetectorFailures.problem` gives the health line while failures are recent.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)

RECENT_S = 30.0  # a failure this recent still shows in health
LOG_EVERY_S = 60.0


class DetectorFailures:
    """Failures and successes of one camera's detector (thread-safe: the health thread
    reads while the camera thread writes)."""

    def __init__(self, camera_id: str, *, clock=time.monotonic) -> None:
        self.camera_id = camera_id
        self.failed = 0  # frames whose detector raised, since the pipeline started
        self.ok = 0
        self._clock = clock
        self._last_error = ""
        self._last_failure: float | None = None
        self._window_failed = 0  # since the last success (consecutive)
        self._last_log = -1e18
        self._unlogged = 0
        self._lock = threading.Lock()

    def success(self) -> None:
        with self._lock:
            self.ok += 1
            self._window_failed = 0

    def failure(self, e: BaseException) -> None:
        now = self._clock()
        with self._lock:
            self.failed += 1
            self._window_failed += 1
            self._unlogged += 1
            self._last_error = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            self._last_failure = now
            due = now - self._last_log >= LOG_EVERY_S
            if due:
                self._last_log, n, self._unlogged = now, self._unlogged, 0
        if due:
            log.error(
                "camera %s: detector failed on %d frame(s) since the last report (%d in all; "
                "those frames are skipped): %s",
                self.camera_id,
                n,
                self.failed,
                self._last_error,
            )

    def problem(self) -> str:
        """The health line while a failure is recent (``""`` otherwise)."""
        with self._lock:
            if self._last_failure is None or self._clock() - self._last_failure > RECENT_S:
                return ""
            run = (
                f"every frame for the last {self._window_failed}"
                if self._window_failed
                else "some frames"
            )
            return (
                f"detector failing ({run}; {self.failed} failed, {self.ok} ok since start): "
                f"{self._last_error}"
            )

    @property
    def last_error(self) -> str:
        with self._lock:
            return self._last_error

    @property
    def failing_now(self) -> bool:
        """The last detector run failed."""
        with self._lock:
            return self._window_failed > 0
