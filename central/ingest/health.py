"""Ingest health: is the database reachable, is the broker connected.

What an ingest worker knows about its own state, for ``GET /api/health`` (when the
worker runs in the API process) and Prometheus metrics on ``ingest.metrics_port`` (an
ingest-only worker, ``serve --no-api``). A database outage is not a message problem:
the worker keeps the batch unacknowledged, reports ``database: unavailable`` and
retries with back-off until the database answers again.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from pydantic import BaseModel

from central.store.models import utcnow


def is_data_error(e: BaseException) -> bool:
    """True when the database refused this message's *content* and would refuse it again
    (constraint or value errors): dead-letter it. Everything else — connection lost,
    server down, SQLite locked or unopenable, timeouts, missing privileges or schema, a
    full disk, the evidence store failing — is the system's fault, not the message's:
    retry, never dead-letter."""
    if isinstance(e, sa.exc.DBAPIError):
        if e.connection_invalidated:
            return False
        return isinstance(e, sa.exc.IntegrityError | sa.exc.DataError)
    # A value SQLAlchemy could not bind (no database involved), or one our own code refused;
    # OverflowError: sqlite3 refusing an integer beyond 64 bits (PostgreSQL: DataError).
    return isinstance(e, sa.exc.StatementError | ValueError | TypeError | OverflowError)


class IngestHealth(BaseModel):
    """One worker's view; ``healthy`` only when the database answers and the broker is up."""

    healthy: bool
    database: Literal["ok", "unavailable"]
    database_error: str = ""
    database_down_since: datetime | None = None
    broker_connected: bool
    queued: int  # messages received, not yet stored (nothing is acked before it is)
    counts: dict[str, int]


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
