"""Ingest health: is the database reachable, is the broker connected.

What an ingest worker knows about its own state, for ``GET /api/health`` (when the
worker runs in the API process) and Prometheus metrics on ``ingest.metrics_port`` (an
ingest-only worker, ``serve --no-api``). A database outage is not a message problem:
the worker keeps the batch unacknowledged, reports ``database: unavailable`` and
retries with back-off until the database answers again.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from pydantic import BaseModel

from central.store.models import utcnow


def is_outage(e: BaseException) -> bool:
    """True when storing failed because of the system, not the message: connection lost,
    server down, SQLite locked or unopenable, pool timeouts, missing privileges or schema,
    a full disk, the evidence store or the device keys unreadable, memory exhausted.
    Retry those, never dead-letter. Anything else (the database refusing this message's
    content, or our own code failing on it) is the message's: store the batch one by one
    and dead-letter the message that fails alone, so one message can never stall ingest."""
    from central.ingest.classify import KeyLoadError

    if isinstance(e, sa.exc.DBAPIError):
        if e.connection_invalidated:
            return True
        return not isinstance(e, sa.exc.IntegrityError | sa.exc.DataError)
    return isinstance(
        e, sa.exc.TimeoutError | sa.exc.DisconnectionError | OSError | KeyLoadError | MemoryError
    )


def is_data_error(e: BaseException) -> bool:
    """The message's fault (see ``is_outage``): dead-letter it once it fails alone."""
    return not is_outage(e)


class IngestHealth(BaseModel):
    """One worker's view; ``healthy`` only when the database answers, the broker is up and
    the worker thread is consuming (not dead and waiting for its restart, not stalled)."""

    healthy: bool
    database: Literal["ok", "unavailable"]
    database_error: str = ""
    database_down_since: datetime | None = None
    broker_connected: bool
    worker: Literal["running", "restarting", "stalled", "stopped"] = "running"
    worker_restarts: int = 0  # times the worker thread died and was restarted
    worker_error: str = ""  # why it last died
    queued: int  # messages received, not yet stored (nothing is acked before it is)
    counts: dict[str, int]


class WorkerState:
    """Thread-safe life of the worker thread, as its supervisor and the thread see it."""

    def __init__(self, stall_s: float) -> None:
        self._lock = threading.Lock()
        self.stall_s = stall_s
        self.alive = False
        self.started_once = False
        self.stopped = False
        self.restarts = 0
        self.error = ""
        self._tick = time.monotonic()

    def tick(self) -> None:
        """The thread made progress (took a batch, polled the queue, retried)."""
        self._tick = time.monotonic()

    def running(self) -> None:
        with self._lock:
            self.alive, self.started_once = True, True
            self._tick = time.monotonic()

    def died(self, error: str) -> None:
        with self._lock:
            self.alive = False
            self.restarts += 1
            self.error = error[:500]

    def stop(self) -> None:
        with self._lock:
            self.alive, self.stopped = False, True

    @property
    def state(self) -> Literal["running", "restarting", "stalled", "stopped"]:
        with self._lock:
            if self.stopped or not self.started_once:
                return "stopped"
            if not self.alive:
                return "restarting"
            if time.monotonic() - self._tick > self.stall_s:
                return "stalled"
            return "running"


class DatabaseState:
    """Thread-safe up/down state of the database as the worker last saw it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.error = ""
        self.down_since: datetime | None = None

    def failed(self, e: BaseException) -> bool:
        """Record a failure; True when this is the start of an outage."""
        with self._lock:
            first = self.down_since is None
            self.error = f"{type(e).__name__}: {e}"[:500]
            if first:
                self.down_since = utcnow()
            return first

    def ok(self) -> datetime | None:
        """Record success; returns when the outage began if one just ended."""
        with self._lock:
            since, self.down_since, self.error = self.down_since, None, ""
            return since

    @property
    def up(self) -> bool:
        return self.down_since is None


class IngestMetrics:
    """Prometheus metrics of one worker, in their own registry (tests can make many)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.db_up = Gauge("jaywatch_central_db_up", "1 when ingest reaches the DB", registry=r)
        self.broker_up = Gauge(
            "jaywatch_ingest_broker_connected", "1 when connected to the broker", registry=r
        )
        self.messages = Counter(
            "jaywatch_ingest_messages", "Messages handled, by outcome", ["outcome"], registry=r
        )
        self.retries = Counter(
            "jaywatch_ingest_retries", "Batches retried because storing failed", registry=r
        )
        self.restarts = Counter(
            "jaywatch_ingest_worker_restarts", "Times the worker thread died and restarted",
            registry=r,
        )  # fmt: skip
        self.worker_up = Gauge(
            "jaywatch_ingest_worker_running", "1 when the worker thread is consuming", registry=r
        )
        self.queued = Gauge(
            "jaywatch_ingest_queued", "Messages received and not yet stored", registry=r
        )
        self._server = None

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Expose ``/metrics`` on ``host:port`` (0 picks a free port); returns the port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        return server.server_address[1]

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
