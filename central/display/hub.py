"""Keeps every connected screen (and the MQTT display topics) up to date.

The hub polls the database rather than relying on in-process signals: a decision taken
by another central process (several run behind a load balancer) must reach screens too.
A decision taken in this process calls ``poke()`` so its screens update at once; the
poll bounds the delay for everything else to ``poll_s``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from central.display.feed import ScreenFeed, UnknownScreen, all_screens, build_feed
from central.fines import FineSchedule

log = logging.getLogger(__name__)

Publisher = Callable[[ScreenFeed], None]


@dataclass(eq=False)
class Subscriber:
    screen_id: str
    loop: asyncio.AbstractEventLoop
    last_key: str = ""  # content of the last feed this screen got: never sent twice
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(maxsize=16))

    def deliver(self, data: str, key: str) -> None:
        """Called from the hub thread; a slow screen loses stale snapshots, not new ones."""
        if key == self.last_key:
            return
        self.last_key = key

        def put() -> None:
            while self.queue.full():
                self.queue.get_nowait()
            self.queue.put_nowait(data)

        self.loop.call_soon_threadsafe(put)


class DisplayHub:
    """Thread that rebuilds feeds and pushes the changed ones; start lazily or explicitly."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        schedule: FineSchedule,
        poll_s: float = 0.5,
        publisher: Publisher | None = None,
    ) -> None:
        self.sessions = sessions
        self.schedule = schedule
        self.poll_s = poll_s
        self.publisher = publisher  # set → every registered screen is published, watched or not
        self._subs: set[Subscriber] = set()
        self._last: dict[str, str] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def feed(self, screen_id: str) -> ScreenFeed:
        with self.sessions() as s:
            return build_feed(s, self.schedule, screen_id)

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="display-hub", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def poke(self) -> None:
        """Something changed: rebuild now instead of at the next poll."""
        self._wake.set()

    def subscribe(self, screen_id: str, sent: ScreenFeed | None = None) -> Subscriber:
        """Register a screen that has already been sent ``sent`` (not sent again)."""
        sub = Subscriber(screen_id, asyncio.get_running_loop(), sent.content_key() if sent else "")
        with self._lock:
            self._subs.add(sub)
        self.start()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs.discard(sub)

    def _screens(self) -> set[str]:
        with self._lock:
            watched = {s.screen_id for s in self._subs}
        if self.publisher is not None:
            with self.sessions() as s:
                watched |= set(all_screens(s))
        return watched

    def _feeds(self, screens: list[str]) -> list[ScreenFeed]:
        """All feeds of one round in ONE short session (on SQLite every transaction
        takes the write lock: one per round, not one per screen)."""
        feeds = []
        with self.sessions() as s:
            for screen in screens:
                try:
                    feeds.append(build_feed(s, self.schedule, screen))
                except UnknownScreen:
                    continue
        return feeds

    def refresh(self) -> None:
        """One round: rebuild every screen's feed, push those whose content changed."""
        for feed in self._feeds(sorted(self._screens())):
            screen = feed.screen_id
            key = feed.content_key()
            with self._lock:
                subs = [s for s in self._subs if s.screen_id == screen]
            data = feed.model_dump_json()
            for sub in subs:
                sub.deliver(data, key)
            if self._last.get(screen) == key:
                continue
            self._last[screen] = key
            if self.publisher is not None:
                try:
                    self.publisher(feed)
                except Exception:  # the broker being down must not stop the screens
                    log.exception("display: MQTT publish for %s failed", screen)
                    self._last.pop(screen, None)  # retry next round

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:
                log.exception("display hub: refresh failed")
            self._wake.wait(self.poll_s)
            self._wake.clear()
