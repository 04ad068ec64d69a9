"""The queue's live push, one mechanism for the console (``/console/queue/stream``) and
API clients (``GET /api/queue/stream``): Server-Sent Events driven by a fingerprint of
the queue (``queue.changes``) polled from the database, so it works with any number of
``central serve`` processes on one database and needs no message bus.

Events: ``ready`` once the baseline is taken (a client fetches its list then, so nothing
that changed between its last fetch and connecting is missed), then ``queue`` whenever
the fingerprint changes; a comment line every ``KEEPALIVE_S`` so proxies keep the
connection. Each event carries an ``id:`` (a digest of the fingerprint): a client that
reconnects with ``Last-Event-ID`` from before a change gets ``queue`` right after
``ready``. The stream ends after ``STREAM_FOR_S``; the client reconnects (``retry:``) and
its login is checked again — a revoked session stops receiving within that time.

It says *that* the queue changed, with the waiting and live-claim counts, never which
case or who: the client re-reads the list through the endpoint that checks its role.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio.to_thread
from sqlalchemy.orm import Session, sessionmaker

from central.workflow import queue as wq

POLL_S = 1.0  # how often a live queue looks for changes
KEEPALIVE_S = 15.0
STREAM_FOR_S = 600.0  # then the client reconnects (and its login is checked again)
RETRY_MS = 2000
MEDIA_TYPE = "text/event-stream"
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _snapshot(sessions: sessionmaker[Session]) -> tuple[str, dict[str, Any]]:
    """(id, data) of the queue as it is now: the digest of its fingerprint and counts."""
    with sessions() as s:
        fp = wq.changes(s)
    digest = hashlib.sha256(json.dumps(fp, default=str).encode()).hexdigest()[:16]
    return digest, {"waiting": int(fp[1] or 0), "claims": int(fp[3] or 0)}


def _event(name: str, event_id: str, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data)}\n\n"


async def queue_events(
    sessions: sessionmaker[Session],
    is_disconnected: Callable[[], Awaitable[bool]],
    last_event_id: str | None = None,
    *,
    poll_s: float = POLL_S,
    keepalive_s: float = KEEPALIVE_S,
    stream_for_s: float = STREAM_FOR_S,
) -> AsyncIterator[str]:
    """The SSE text of one connection (see the module's docstring)."""
    loop = asyncio.get_running_loop()
    started = last_sent = loop.time()
    # The database is read in a worker thread (anyio's pool, as FastAPI's sync routes):
    # the event loop goes on serving other requests.
    read = functools.partial(anyio.to_thread.run_sync, _snapshot, sessions)
    last, data = await read()
    yield f"retry: {RETRY_MS}\n" + _event("ready", last, data)
    if last_event_id and last_event_id != last:  # changed while the client was away
        yield _event("queue", last, data)
    while loop.time() - started < stream_for_s:
        await asyncio.sleep(poll_s)
        if await is_disconnected():
            return
        now, data = await read()
        if now != last:
            last, last_sent = now, loop.time()
            yield _event("queue", now, data)
        elif loop.time() - last_sent > keepalive_s:
            last_sent = loop.time()
            yield ": keepalive\n\n"
