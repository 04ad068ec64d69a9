"""Live controller phases into the camera readers: MQTT, UDP and HTTP, one code path.

    signal bridge ──MQTT jaywatch/v1/signal/<site>/phase──┐
    controller on the LAN ──UDP datagram / HTTP POST /phase─┴─► LiveSignalFeed.receive
         ─► parse (jaywatch.wire.SignalPhaseMessage) ─► skew estimate ─► align to frame clock
         ─► ControllerFeedReader.push (every camera watching that signal group)

Clock alignment: each camera's frames are stamped with a monotonic clock anchored once to
wall time (:class:`edge.clock.AnchoredClock`). A message's ``controller_time`` is on the
controller's clock, which is never exactly the gateway's. For every message the feed
takes the sample ``controller_time - arrival`` (arrival on the anchored clock) = skew
minus network delay; the largest sample over ``skew_window_s`` is the skew estimate (the
least-delayed message bounds it best, and a delayed or re-delivered message can only
lower its sample). A phase is placed at ``controller_time - skew``, never later than its
own arrival: the controller's exact timing, shifted onto the frame clock. The estimate
can err only by the smallest delay seen, which makes a phase start *later*, i.e. time
since red shorter, never longer.

Bad input (not JSON, invalid fields, another site, oversized, a sender not allowed) is
counted and logged in one line naming the input and the field, rate-limited so that a
flood cannot fill the disk; it never raises into the caller.
"""

from __future__ import annotations

import collections
import logging
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address

from pydantic import ValidationError

from edge.clock import AnchoredClock
from edge.signal.controller import ControllerFeedReader, PhaseChange
from jaywatch.wire import SignalPhaseMessage

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4096
LOG_BURST = 10  # log lines per minute per input for rejected messages


class SkewEstimator:
    """Controller clock minus gateway clock: the max of recent samples (see module doc)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._samples: collections.deque[tuple[float, float]] = collections.deque()  # (at, s)

    def add(self, sample: float, at: float) -> float:
        self._samples.append((at, sample))
        while self._samples and at - self._samples[0][0] > self.window_s:
            self._samples.popleft()
        return self.estimate()  # type: ignore[return-value]

    def estimate(self) -> float | None:
        return max((s for _, s in self._samples), default=None)


@dataclass
class _GroupSeq:
    """Maps a bridge's ``seq`` onto one increasing sequence per signal group: a counter
    that restarts (bridge restart) continues with a gap, so the reader breaks the run
    there (a change may have been missed) instead of dropping the new messages as
    duplicates of old numbers."""

    offset: int = 0
    last_raw: int | None = None
    last_time: float = float("-inf")

    def local(self, raw: int, when: float) -> int:
        if self.last_raw is not None and raw <= self.last_raw and when > self.last_time:
            self.offset = self.last_raw + self.offset + 2 - raw
        if self.last_raw is None or when >= self.last_time:
            self.last_raw, self.last_time = raw, when
        return raw + self.offset


@dataclass
class _Target:
    reader: ControllerFeedReader
    clock: AnchoredClock


@dataclass
class FeedStats:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    other_groups: int = 0
    by_input: dict[str, int] = field(default_factory=dict)


class LiveSignalFeed:
    """Routes one site's controller messages to the readers of the cameras that watch
    each signal group. Thread-safe: MQTT, UDP and HTTP threads may call :meth:`receive`."""

    def __init__(self, site: str, skew_window_s: float = 300.0, max_skew_s: float = 600.0) -> None:
        self.site = site
        self.max_skew_s = max_skew_s
        self.skew = SkewEstimator(skew_window_s)
        self.stats = FeedStats()
        self._targets: dict[str, list[_Target]] = {}
        self._seq: dict[str, _GroupSeq] = {}
        self._seen: collections.OrderedDict[tuple[str, int | None, float, str], None] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()
        self._log_times: dict[str, collections.deque[float]] = {}
        self._logged_skew: float | None = None
        self._suppressed: dict[str, int] = {}

    def attach(self, group: str, reader: ControllerFeedReader, clock: AnchoredClock) -> None:
        self._targets.setdefault(group, []).append(_Target(reader, clock))

    @property
    def groups(self) -> list[str]:
        return sorted(self._targets)

    def _readers(self) -> Iterable[ControllerFeedReader]:
        for targets in self._targets.values():
            for tg in targets:
                yield tg.reader

    def reject(self, via: str, reason: str) -> None:
        """Count and log (rate-limited per input) one unusable message."""
        with self._lock:
            self.stats.rejected += 1
            for r in self._readers():
                r.rejected += 1
            # Each bad message gets its line, up to LOG_BURST per minute per input; beyond
            # that they are counted and summed up in the next line (a flood must not fill
            # the disk).
            now = time.monotonic()
            window = self._log_times.setdefault(via, collections.deque())
            while window and now - window[0] > 60.0:
                window.popleft()
            if len(window) >= LOG_BURST:
                self._suppressed[via] = self._suppressed.get(via, 0) + 1
                return
            window.append(now)
            more = self._suppressed.pop(via, 0)
        extra = f" ({more} more rejected without a line)" if more else ""
        log.warning(
            "signal feed %s (site %s): message rejected: %s%s", via, self.site, reason, extra
        )

    def receive(self, payload: bytes | str, via: str) -> bool:
        """Parse, align and apply one message; ``False`` (counted, logged) if unusable."""
        try:
            return self._receive(payload, via)
        except Exception as e:  # never into paho's / the server's thread
            log.exception("signal feed %s: unexpected error", via)
            self.reject(via, f"internal error {type(e).__name__}")
            return False

    def _receive(self, payload: bytes | str, via: str) -> bool:
        if len(payload) > MAX_MESSAGE_BYTES:
            self.reject(via, f"{len(payload)} bytes, expected at most {MAX_MESSAGE_BYTES}")
            return False
        try:
            msg = SignalPhaseMessage.model_validate_json(payload)
        except ValidationError as e:
            first = e.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "payload"
            self.reject(via, f"{loc}: {first['msg'].removeprefix('Value error, ')}")
            return False
        if msg.site != self.site:
            self.reject(via, f"site: expected {self.site!r}, got {msg.site!r}")
            return False
        targets = self._targets.get(msg.signal_group)
        if not targets:
            with self._lock:
                self.stats.other_groups += 1  # a group no camera here watches: not an error
            return False
        ctrl = msg.controller_time.timestamp()
        first = targets[0].clock
        arrival = first.wall_of(first.now())
        if abs(ctrl - arrival) > self.max_skew_s:
            # One wild clock must not drag the skew estimate (and every phase) with it.
            self.reject(
                via,
                f"controller_time: {ctrl - arrival:+.0f} s from the gateway's clock "
                f"(more than signal_feed.max_skew_s = {self.max_skew_s:g})",
            )
            return False
        with self._lock:
            key = (msg.signal_group, msg.seq, ctrl, msg.phase)
            if key in self._seen:
                self.stats.duplicates += 1
                return False
            self._seen[key] = None
            if len(self._seen) > 4096:
                self._seen.popitem(last=False)
            seq = None
            if msg.seq is not None:
                seq = self._seq.setdefault(msg.signal_group, _GroupSeq()).local(msg.seq, ctrl)
            skew = self.skew.add(ctrl - arrival, at=arrival)
            for tg in targets:
                # Never later than its arrival: a message cannot report the future.
                aligned_t = min(tg.clock.t_of_wall(ctrl - skew), tg.clock.now())
                tg.reader.skew_s = skew
                if tg.reader.push(PhaseChange(t=aligned_t, phase=msg.phase, seq=seq)):
                    tg.reader.messages += 1
            self.stats.accepted += 1
            self.stats.by_input[via] = self.stats.by_input.get(via, 0) + 1
            report = self._logged_skew is None or abs(skew - self._logged_skew) >= 0.5
            if report:
                self._logged_skew = skew
        if report:
            log.info(
                "signal feed site %s: controller clock %+.2f s vs the gateway's "
                "(filtered over %.0f s; phases are aligned by it)",
                self.site,
                skew,
                self.skew.window_s,
            )
        return True


def _allowed(allow_from: list, host: str) -> bool:
    if not allow_from:
        return True
    try:
        addr = ip_address(host)
    except ValueError:
        return False
    return any(addr == a for a in allow_from)


class UdpInput:
    """One JSON :class:`~jaywatch.wire.SignalPhaseMessage` per datagram."""

    def __init__(self, feed: LiveSignalFeed, host: str, port: int, allow_from: list) -> None:
        self.feed = feed
        self.allow_from = allow_from
        self.sock = socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM
        )
        self.sock.bind((host, port))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="signal-udp", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("signal feed: UDP input on %s:%d", self.sock.getsockname()[0], self.port)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            if not _allowed(self.allow_from, addr[0]):
                self.feed.reject("udp", f"sender {addr[0]} not in signal_feed.allow_from")
                continue
            self.feed.receive(data, "udp")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class HttpInput:
    """``POST /phase`` with a JSON :class:`~jaywatch.wire.SignalPhaseMessage` body: 202 when
    applied, 200 for a duplicate or a group no camera here watches, 400 naming the bad
    field, 403 for a sender not allowed, 404 / 405 / 411 / 413 for the wrong request."""

    def __init__(self, feed: LiveSignalFeed, host: str, port: int, allow_from: list) -> None:
        inp = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, code: int, text: str) -> None:
                body = (text + "\n").encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                if not _allowed(allow_from, self.client_address[0]):
                    feed.reject("http", f"sender {self.client_address[0]} not allowed")
                    return self._answer(403, "sender not in signal_feed.allow_from")
                if self.path.split("?")[0] != "/phase":
                    return self._answer(404, "POST /phase")
                try:
                    n = int(self.headers.get("Content-Length", ""))
                except ValueError:
                    return self._answer(411, "Content-Length required")
                if n < 0 or n > MAX_MESSAGE_BYTES:
                    feed.reject("http", f"{n} bytes, expected at most {MAX_MESSAGE_BYTES}")
                    return self._answer(413, f"at most {MAX_MESSAGE_BYTES} bytes")
                body = self.rfile.read(n)
                before = feed.stats.rejected
                if feed.receive(body, "http"):
                    return self._answer(202, "applied")
                if feed.stats.rejected > before:
                    return self._answer(400, "rejected (see the gateway log)")
                return self._answer(200, "ignored (duplicate or group not watched here)")

            def do_GET(self) -> None:
                self._answer(405, "POST /phase")

            def log_message(self, *_a: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="signal-http", daemon=True
        )
        inp.feed = feed

    def start(self) -> None:
        self._thread.start()
        log.info("signal feed: HTTP input on %s:%d POST /phase", *self.httpd.server_address[:2])

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
