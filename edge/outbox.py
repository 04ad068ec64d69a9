"""The durable outbox: every signed violation is on disk before it is published and stays
there until central says it has stored it.

Why SQLite in WAL mode with ``synchronous=FULL``: a commit returns only after the WAL is
fsynced, so ``put`` returning means the event survives kill -9 and a power cut; WAL lets
the publisher read while the pipeline writes. PUBACK only says the broker has a message
(a broker crash or a central without a session still loses it), so a row is deleted
only on central's application-level ack. Send/ack bookkeeping commits skip the fsync
(losing one only repeats a send, which central answers "duplicate").

Ordering: rows carry a monotonically increasing ``seq``. Per camera, only the oldest
``window`` unacked rows are eligible to be (re)sent, so a camera's stream is sent oldest
first and a retried row is never overtaken by more than ``window - 1`` newer ones.
``window=1`` gives strict per-camera order at central at the cost of one round trip per
event; the default (64) drains a 500-event backlog in well under a second on a LAN.

Space: a violation is never dropped to make room. Low disk is logged and reported
(``disk_status``); only a genuinely full disk makes ``put`` fail, loudly.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import random
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from jaywatch.wire import ViolationEvent

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    camera_id TEXT NOT NULL,
    created REAL NOT NULL,
    payload BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_camera_seq ON outbox (camera_id, seq);
CREATE TABLE IF NOT EXISTS rejected (
    event_id TEXT PRIMARY KEY,
    camera_id TEXT NOT NULL,
    created REAL NOT NULL,
    payload BLOB NOT NULL,
    rejected_at REAL NOT NULL,
    reason TEXT NOT NULL
);
-- What an operator did by hand (jaywatch edge outbox requeue/drop): kept with the data
-- it changed, so a dropped event leaves a trace (its id, camera and payload sha256).
CREATE TABLE IF NOT EXISTS operator_log (
    at REAL NOT NULL,
    action TEXT NOT NULL,
    event_id TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    from_state TEXT NOT NULL,
    payload_sha256 TEXT NOT NULL,
    payload_bytes INTEGER NOT NULL,
    by TEXT NOT NULL
);
"""


class OutboxError(RuntimeError):
    """The outbox cannot be opened or written; the message says why and where."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter for events central has not acked yet.

    The n-th resend waits ``min(max_s, base_s * 2**(n-1))`` scaled by a random factor in
    ``[1 - jitter, 1]`` so that many gateways coming back after an outage do not resend
    in lock-step.
    """

    base_s: float = 10.0
    max_s: float = 600.0
    jitter: float = 0.3

    def delay(self, attempts: int, rng: random.Random) -> float:
        d = min(self.max_s, self.base_s * 2.0 ** max(0, attempts - 1))
        return d * (1.0 - self.jitter * rng.random())


@dataclass(frozen=True)
class OutboxEntry:
    seq: int
    event_id: str
    camera_id: str
    created: float
    payload: bytes
    attempts: int
    next_attempt_at: float


@dataclass(frozen=True)
class DiskStatus:
    free_bytes: int
    low: bool


class Outbox:
    """A thread-safe, process-exclusive SQLite outbox.

    One connection guarded by a lock: the pipeline's threads ``put``, the publisher reads
    ``due`` and the ack handler ``delete``s. A second process opening the same file gets
    :class:`OutboxError` (two publishers would double every event).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        retry: RetryPolicy | None = None,
        min_free_bytes: int = 512 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.path = Path(path)
        self.retry = retry or RetryPolicy()
        self.min_free_bytes = min_free_bytes
        self._clock = clock
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._last_disk_check = -1e18
        self._last_low_log = -1e18
        self._disk = DiskStatus(free_bytes=0, low=False)
        self._lockfile = self._take_process_lock()
        try:
            # Evidence holds faces: owner-only, like the key (SQLite gives -wal/-shm the
            # same mode as the database file).
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA journal_size_limit=67108864")
            self._db.executescript(_SCHEMA)
            # sha256() in SQL for operator_log rows written by INSERT ... SELECT
            self._db.create_function(
                "sha256", 1, lambda b: hashlib.sha256(b).hexdigest(), deterministic=True
            )
        except (sqlite3.Error, OSError) as e:
            self._release_process_lock()
            raise OutboxError(f"{self.path}: cannot open outbox database ({e})") from None
        self._check_disk(force=True)

    # --- process exclusivity ------------------------------------------------------------

    def _take_process_lock(self) -> int:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise OutboxError(f"{lock_path}: cannot create outbox lock file ({e})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutboxError(f"{self.path}: outbox is in use by another process") from None
        return fd

    def _release_process_lock(self) -> None:
        if self._lockfile >= 0:
            os.close(self._lockfile)  # closing releases the flock (as does kill -9)
            self._lockfile = -1

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._release_process_lock()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _bookkeeping(self) -> Iterator[None]:
        """Commit without fsync (``synchronous=NORMAL``) for sends and acks.

        Losing such a commit in a power cut only repeats a send (central answers
        "duplicate"); WAL checksums keep the database consistent and earlier fsynced
        puts intact. Saves two fsyncs per event on the hot path. Caller holds the lock.
        """
        self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            yield
        finally:
            self._db.execute("PRAGMA synchronous=FULL")

    # --- writing ------------------------------------------------------------------------

    def add_listener(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` after each successful ``put`` (the publisher's wake-up)."""
        self._listeners.append(fn)

    def put(self, event_id: str, camera_id: str, payload: bytes) -> bool:
        """Store one event durably; returns only after the fsync.

        Idempotent on ``event_id``: returns False (and changes nothing) if it is already
        queued, so a pipeline retry never doubles an event.

        Raises:
            OutboxError: the disk is full or the database is unusable; nothing was stored.
        """
        now = self._clock()
        try:
            with self._lock:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO outbox (event_id, camera_id, created, payload)"
                    " VALUES (?, ?, ?, ?)",
                    (event_id, camera_id, now, payload),
                )
                inserted = cur.rowcount == 1
        except sqlite3.Error as e:
            self._check_disk(force=True)
            log.critical("outbox %s: could not store event %s: %s", self.path, event_id, e)
            raise OutboxError(f"{self.path}: could not store event {event_id} ({e})") from None
        self._check_disk()
        if inserted:
            for fn in self._listeners:
                fn()
        return inserted

    def put_event(self, event: ViolationEvent) -> bool:
        """Store a signed :class:`ViolationEvent` (its JSON is the MQTT payload as is)."""
        if not event.signature:
            raise ValueError(f"event {event.event_id}: not signed (sign it with the device key)")
        return self.put(event.event_id, event.camera_id, event.model_dump_json().encode())

    # --- the publisher's side -----------------------------------------------------------

    def due(self, *, window: int = 64, now: float | None = None) -> list[OutboxEntry]:
        """Entries to (re)send now: per camera, those among its oldest ``window`` unacked
        rows whose back-off has expired, oldest first."""
        t = self._clock() if now is None else now
        with self._lock:
            cams = [r[0] for r in self._db.execute("SELECT DISTINCT camera_id FROM outbox")]
            seqs: list[int] = []
            for cam in cams:
                # metadata first: payloads (evidence JPEGs) are read only for due rows
                seqs += [
                    seq
                    for seq, nxt in self._db.execute(
                        "SELECT seq, next_attempt_at FROM outbox WHERE camera_id = ?"
                        " ORDER BY seq LIMIT ?",
                        (cam, window),
                    )
                    if nxt <= t
                ]
            seqs.sort()
            rows = [
                self._db.execute(
                    "SELECT seq, event_id, camera_id, created, payload, attempts,"
                    " next_attempt_at FROM outbox WHERE seq = ?",
                    (seq,),
                ).fetchone()
                for seq in seqs
            ]
        return [OutboxEntry(*r) for r in rows]

    def mark_sent(self, event_ids: Iterable[str], now: float | None = None) -> int:
        """Record a (re)send: bump ``attempts`` and schedule the next try by back-off.
        Returns how many of them were resends (attempts was already > 0)."""
        t = self._clock() if now is None else now
        ids = list(event_ids)
        if not ids:
            return 0
        resent = 0
        with self._lock, self._bookkeeping():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for eid in ids:
                    row = self._db.execute(
                        "SELECT attempts FROM outbox WHERE event_id = ?", (eid,)
                    ).fetchone()
                    if row is None:  # acked meanwhile
                        continue
                    attempts = row[0] + 1
                    resent += attempts > 1
                    self._db.execute(
                        "UPDATE outbox SET attempts = ?, next_attempt_at = ? WHERE event_id = ?",
                        (attempts, t + self.retry.delay(attempts, self._rng), eid),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return resent

    def make_all_due(self) -> None:
        """After a (re)connect: everything unacked is eligible at once (a broker that lost
        its session, or was killed, may have lost what it PUBACKed)."""
        with self._lock, self._bookkeeping():
            self._db.execute("UPDATE outbox SET next_attempt_at = 0 WHERE next_attempt_at > 0")

    def next_due_at(self, *, window: int = 64) -> float | None:
        """When the earliest in-window entry becomes due (None when the outbox is empty)."""
        with self._lock:
            cams = [r[0] for r in self._db.execute("SELECT DISTINCT camera_id FROM outbox")]
            best: float | None = None
            for cam in cams:
                (m,) = self._db.execute(
                    "SELECT min(next_attempt_at) FROM (SELECT next_attempt_at FROM outbox"
                    " WHERE camera_id = ? ORDER BY seq LIMIT ?)",
                    (cam, window),
                ).fetchone()
                if m is not None and (best is None or m < best):
                    best = m
        return best

    # --- central's answer ---------------------------------------------------------------

    def delete(self, event_id: str) -> bool:
        """Remove an event central has stored (ack ``stored`` or ``duplicate``)."""
        with self._lock, self._bookkeeping():
            return (
                self._db.execute("DELETE FROM outbox WHERE event_id = ?", (event_id,)).rowcount == 1
            )

    def delete_many(self, event_ids: Iterable[str]) -> int:
        """Remove many acked events in one transaction (one fsync for a burst of acks)."""
        ids = list(event_ids)
        if not ids:
            return 0
        with self._lock, self._bookkeeping():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                n = sum(
                    self._db.execute("DELETE FROM outbox WHERE event_id = ?", (e,)).rowcount
                    for e in ids
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return n

    def reject(self, event_id: str, reason: str) -> bool:
        """Central refused the event: stop resending it but keep it (never drop evidence)
        in the ``rejected`` table for an operator to inspect."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "INSERT OR REPLACE INTO rejected"
                    " (event_id, camera_id, created, payload, rejected_at, reason)"
                    " SELECT event_id, camera_id, created, payload, ?, ? FROM outbox"
                    " WHERE event_id = ?",
                    (self._clock(), reason, event_id),
                )
                moved = cur.rowcount == 1
                self._db.execute("DELETE FROM outbox WHERE event_id = ?", (event_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if moved:
            log.error(
                "central rejected event %s: %s (kept in the rejected table)", event_id, reason
            )
        return moved

    def requeue_rejected(self, event_ids: Iterable[str] | None = None, *, by: str = "") -> int:
        """Move rejected events back into the outbox (all, or the given ids), e.g. after
        an operator fixed what made central refuse them. Returns how many moved; each
        move is recorded in ``operator_log`` in the same transaction."""
        ids = None if event_ids is None else list(event_ids)
        where, args = (
            ("", ())
            if ids is None
            else (
                f" WHERE event_id IN ({','.join('?' * len(ids))})",
                tuple(ids),
            )
        )
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO operator_log (at, action, event_id, camera_id, from_state,"
                    " payload_sha256, payload_bytes, by)"
                    " SELECT ?, 'requeue', event_id, camera_id, 'rejected', sha256(payload),"
                    f" length(payload), ? FROM rejected{where}",
                    (self._clock(), by, *args),
                )
                n = self._db.execute(
                    "INSERT OR IGNORE INTO outbox (event_id, camera_id, created, payload)"
                    f" SELECT event_id, camera_id, created, payload FROM rejected{where}"
                    " ORDER BY created",
                    args,
                ).rowcount
                self._db.execute(f"DELETE FROM rejected{where}", args)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if n:
            for fn in self._listeners:
                fn()
        return n

    def drop(self, event_id: str, *, by: str = "") -> str | None:
        """Delete one event for good, queued or rejected (an operator's decision, e.g. a
        test event); records it in ``operator_log`` in the same transaction. Returns the
        state it was dropped from ("queued" or "rejected"), or None if there is no such
        event."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                state = None
                for table, name in (("outbox", "queued"), ("rejected", "rejected")):
                    row = self._db.execute(
                        f"SELECT camera_id, payload FROM {table} WHERE event_id = ?", (event_id,)
                    ).fetchone()
                    if row is None:
                        continue
                    self._db.execute(
                        "INSERT INTO operator_log (at, action, event_id, camera_id,"
                        " from_state, payload_sha256, payload_bytes, by)"
                        " VALUES (?, 'drop', ?, ?, ?, ?, ?, ?)",
                        (
                            self._clock(),
                            event_id,
                            row[0],
                            name,
                            hashlib.sha256(row[1]).hexdigest(),
                            len(row[1]),
                            by,
                        ),
                    )
                    self._db.execute(f"DELETE FROM {table} WHERE event_id = ?", (event_id,))
                    state = name
                    break
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if state is not None:
            log.warning("outbox %s: event %s dropped from %s by %s", self.path, event_id, state, by)
        return state

    # --- inspection ---------------------------------------------------------------------

    def depth(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def depth_by_camera(self) -> dict[str, int]:
        with self._lock:
            return dict(
                self._db.execute("SELECT camera_id, count(*) FROM outbox GROUP BY camera_id")
            )

    def rejected_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM rejected").fetchone()[0]

    def entries(self) -> list[OutboxEntry]:
        """Every queued entry, oldest first (inspection and tests)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event_id, camera_id, created, payload, attempts, next_attempt_at"
                " FROM outbox ORDER BY seq"
            ).fetchall()
        return [OutboxEntry(*r) for r in rows]

    def oldest_age_s(self) -> float | None:
        with self._lock:
            (m,) = self._db.execute("SELECT min(created) FROM outbox").fetchone()
        return None if m is None else max(0.0, self._clock() - m)

    def disk_status(self) -> DiskStatus:
        self._check_disk(force=True)
        return self._disk

    def _check_disk(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_disk_check < 10.0:
            return
        self._last_disk_check = now
        free = shutil.disk_usage(self.path.parent).free
        low = free < self.min_free_bytes
        if low and (not self._disk.low or now - self._last_low_log >= 600.0):
            self._last_low_log = now  # repeated every 10 min while low, not per event
            log.warning(
                "outbox %s: disk low, %d MB free (< %d MB); events are kept, none dropped",
                self.path,
                free // 2**20,
                self.min_free_bytes // 2**20,
            )
        elif self._disk.low and not low:
            log.info("outbox %s: disk space recovered (%d MB free)", self.path, free // 2**20)
        self._disk = DiskStatus(free_bytes=free, low=low)
