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
its login is checked again.

It says *that* the queue changed, with the waiting and live-claim counts, never which
case or who: the client re-reads the list through the endpoint that checks its role.

**One watch per process** (:class:`QueueWatch`), shared by every open stream: the
fingerprint is read at most once per ``POLL_S`` however many streams are open (each
stream used to read it itself, so 1,000 streams from one account were 4,000 queries a
second and took /api/health from 0.15 to 2.6 s), and in the same beat one query checks
that every open stream's session is still live (not logged out, expired, disabled or
moved to a role without the queue): a revoked session's streams end within a poll with
``event: end``, not after up to ``STREAM_FOR_S``. Streams are capped per account
(``PER_ACCOUNT``) and per process (``TOTAL``); past a cap the request is refused with 429
and one log line, so one client cannot hold the server's connections.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import threading
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from central.workflow import queue as wq
from central.workflow import users
from central.workflow.common import Actor

log = logging.getLogger(__name__)
POLL_S = 1.0  # how often a live queue looks for changes (and re-checks sessions)
KEEPALIVE_S = 15.0
STREAM_FOR_S = 600.0  # then the client reconnects (and its login is checked again)
RETRY_MS = 2000
PER_ACCOUNT = 8  # open streams one account may hold (tabs, a dashboard, an API client)
TOTAL = 500  # open streams per process
MAX_EVENT_ID = 64  # a longer Last-Event-ID is no id this server sent: treated as unknown
MEDIA_TYPE = "text/event-stream"
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


class TooManyStreams(Exception):
    """A new stream would pass a cap; the message says which (answered as 429)."""


def _snapshot(sessions: sessionmaker[Session]) -> tuple[str, dict[str, Any]]:
    """(id, data) of the queue as it is now: the digest of its fingerprint and counts."""
    with sessions() as s:
        fp = wq.changes(s)
    digest = hashlib.sha256(json.dumps(fp, default=str).encode()).hexdigest()[:16]
    return digest, {"waiting": int(fp[1] or 0), "claims": int(fp[3] or 0)}


def _live(sessions: sessionmaker[Session], hashes: frozenset[str]) -> dict[str, str]:
    with sessions() as s:
        return users.live_sessions(s, hashes)


def _event(name: str, event_id: str, data: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data)}\n\n"


@dataclass(eq=False)
class Lease:
    """One open stream's place under the caps; released once, when the response ends."""

    watch: QueueWatch
    account: str
    token_hash: str
    roles: frozenset[str]
    released: bool = False

    def release(self) -> None:
        self.watch._release(self)


@dataclass
class _Beat:
    """The watch's state on one event loop (asyncio locks belong to a loop)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    snap: tuple[str, dict[str, Any]] | None = None
    snap_at: float = float("-inf")
    live: dict[str, str] = field(default_factory=dict)  # token hash -> role
    checked: frozenset[str] = frozenset()
    live_at: float = float("-inf")


class QueueWatch:
    """The one poller of a process's queue streams (see the module's docstring)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        poll_s: float = POLL_S,
        per_account: int = PER_ACCOUNT,
        total: int = TOTAL,
    ) -> None:
        self.sessions, self.poll_s = sessions, poll_s
        self.per_account, self.total = per_account, total
        self._leases: set[Lease] = set()
        self._per_account: Counter[str] = Counter()
        self._mutex = threading.Lock()
        self._beats: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Beat] = (
            weakref.WeakKeyDictionary()
        )
        self.reads = 0  # fingerprint reads so far (for tests and the bench)

    # --- caps ---------------------------------------------------------------------------
    def open(self, actor: Actor, token: str, roles: Iterable[str]) -> Lease:
        """A place for one more stream of ``actor`` (whose session ``token`` opened it),
        or :class:`TooManyStreams`."""
        with self._mutex:
            if len(self._leases) >= self.total:
                why = f"this server has {len(self._leases)} live queue streams open (the limit)"
            elif self._per_account[actor.label] >= self.per_account:
                why = (
                    f"account {actor.name} has {self._per_account[actor.label]} live queue "
                    f"streams open (the limit is {self.per_account}; close a tab or an "
                    "idle client)"
                )
            else:
                lease = Lease(self, actor.label, users.token_hash(token), frozenset(roles))
                self._leases.add(lease)
                self._per_account[actor.label] += 1
                return lease
        log.warning("queue stream refused for %s: %s", actor.label, why)
        raise TooManyStreams(why)

    def _release(self, lease: Lease) -> None:
        with self._mutex:
            if lease.released:
                return
            lease.released = True
            self._leases.discard(lease)
            self._per_account[lease.account] -= 1
            if self._per_account[lease.account] <= 0:
                del self._per_account[lease.account]

    def open_streams(self) -> int:
        return len(self._leases)

    # --- the shared beat ----------------------------------------------------------------
    def _beat(self) -> _Beat:
        loop = asyncio.get_running_loop()
        beat = self._beats.get(loop)
        if beat is None:
            beat = self._beats[loop] = _Beat()
        return beat

    async def snapshot(self) -> tuple[str, dict[str, Any]]:
        """The queue's (id, data), read from the database at most once per poll."""
        beat, now = self._beat(), asyncio.get_running_loop().time()
        async with beat.lock:
            if beat.snap is None or now - beat.snap_at >= self.poll_s * 0.9:
                # In a worker thread (anyio's pool, as FastAPI's sync routes): the event
                # loop goes on serving other requests.
                beat.snap = await anyio.to_thread.run_sync(_snapshot, self.sessions)
                beat.snap_at = asyncio.get_running_loop().time()
                self.reads += 1
            return beat.snap

    async def alive(self, lease: Lease) -> bool:
        """Is the session behind ``lease`` still live with a role the stream needs? One
        query per poll checks every open stream's session."""
        beat, now = self._beat(), asyncio.get_running_loop().time()
        async with beat.lock:
            if lease.token_hash not in beat.checked or now - beat.live_at >= self.poll_s * 0.9:
                with self._mutex:
                    hashes = frozenset(x.token_hash for x in self._leases) | {lease.token_hash}
                check = functools.partial(_live, self.sessions, hashes)
                beat.live = await anyio.to_thread.run_sync(check)
                beat.checked, beat.live_at = hashes, asyncio.get_running_loop().time()
            return beat.live.get(lease.token_hash) in lease.roles


_WATCHES: weakref.WeakKeyDictionary[sessionmaker[Session], QueueWatch] = weakref.WeakKeyDictionary()
_WATCHES_LOCK = threading.Lock()


def watch_for(sessions: sessionmaker[Session]) -> QueueWatch:
    """The process's watch of the database behind ``sessions`` (console and API share it,
    so the caps count both)."""
    with _WATCHES_LOCK:
        w = _WATCHES.get(sessions)
        if w is None:
            w = _WATCHES[sessions] = QueueWatch(sessions)
        return w


class LeasedStream(StreamingResponse):
    """A StreamingResponse that gives its lease back however it ends (the body's own
    ``finally`` does not run when the client leaves before the first chunk)."""

    def __init__(self, content: AsyncIterator[str], lease: Lease) -> None:
        super().__init__(content, media_type=MEDIA_TYPE, headers=HEADERS)
        self.lease = lease

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.lease.release()


async def queue_events(
    watch: QueueWatch,
    lease: Lease,
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
    if last_event_id is not None and len(last_event_id) > MAX_EVENT_ID:
        last_event_id = "?"  # not an id this server sends: the client is told to re-read
    try:
        last, data = await watch.snapshot()
        yield f"retry: {RETRY_MS}\n" + _event("ready", last, data)
        if last_event_id and last_event_id != last:  # changed while the client was away
            yield _event("queue", last, data)
        while loop.time() - started < stream_for_s:
            await asyncio.sleep(poll_s)
            if await is_disconnected():
                return
            if not await watch.alive(lease):
                log.info("queue stream of %s ended: session no longer valid", lease.account)
                yield _event("end", last, {"reason": "session ended: log in again"})
                return
            now, data = await watch.snapshot()
            if now != last:
                last, last_sent = now, loop.time()
                yield _event("queue", now, data)
            elif loop.time() - last_sent > keepalive_s:
                last_sent = loop.time()
                yield ": keepalive\n\n"
    finally:
        lease.release()


def stream_response(
    sessions: sessionmaker[Session],
    actor: Actor,
    token: str,
    roles: Iterable[str],
    is_disconnected: Callable[[], Awaitable[bool]],
    last_event_id: str | None,
) -> LeasedStream:
    """The response of either route: a place under the caps (or TooManyStreams) and the
    stream that holds it."""
    watch = watch_for(sessions)
    lease = watch.open(actor, token, roles)
    return LeasedStream(queue_events(watch, lease, is_disconnected, last_event_id), lease)
