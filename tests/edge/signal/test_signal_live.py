"""The live controller inputs (edge/signal/live.py) on real sockets: UDP and HTTP go
through the same parser and alignment as MQTT; skew is measured and applied; duplicates,
restarts of the bridge's counter, other groups, bad and hostile input."""

from __future__ import annotations

import json
import logging
import socket
import time
import urllib.error
import urllib.request

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.clock import AnchoredClock
from edge.signal import ControllerFeedReader, SignalState
from edge.signal.live import HttpInput, LiveSignalFeed, SkewEstimator, UdpInput


def _feed(timeout_s: float = 5.0, **kw):
    clock = AnchoredClock()
    reader = ControllerFeedReader(timeout_s=timeout_s, name="cam-1")
    feed = LiveSignalFeed("site-a", **kw)
    feed.attach("P1", reader, clock)
    return feed, reader, clock


def _msg(phase: str, when: float, seq: int | None = None, **kw) -> bytes:
    body = {"site": "site-a", "signal_group": "P1", "phase": phase, "controller_time": when}
    if seq is not None:
        body["seq"] = seq
    return json.dumps({**body, **kw}).encode()


def test_a_message_is_placed_on_the_frame_clock_at_its_controller_time_minus_skew():
    feed, reader, clock = _feed()
    skew = 42.0  # the controller's clock is 42 s ahead
    t_red = clock.now()
    assert feed.receive(_msg("red", time.time() + skew, seq=1), "mqtt")
    assert reader.skew_s == pytest.approx(skew, abs=0.05)
    # The change to green happens 0.1 s later but its message arrives 0.3 s late
    # (queued at the broker): its sample is smaller, the estimate stays ...
    t_green_ctrl = time.time() + 0.1 + skew
    time.sleep(0.4)
    assert feed.receive(_msg("green", t_green_ctrl, seq=2), "mqtt")
    assert reader.skew_s == pytest.approx(skew, abs=0.05)
    # ... and the change is placed where the controller says it happened, not on arrival.
    reading = reader.update(None, clock.now())
    assert reading.state is SignalState.GREEN and reading.previous is SignalState.RED
    assert reading.since == pytest.approx(t_red + 0.1, abs=0.05)
    st_ = reader.status()
    assert (st_.source, st_.messages, st_.rejected, st_.stale) == ("controller", 2, 0, False)


def test_skew_is_the_least_delayed_sample_over_the_window():
    est = SkewEstimator(window_s=10.0)
    assert est.add(3.0 - 0.2, at=0.0) == pytest.approx(2.8)
    assert est.add(3.0 - 0.05, at=1.0) == pytest.approx(2.95)
    assert est.add(3.0 - 1.0, at=2.0) == pytest.approx(2.95)  # a slow one changes nothing
    assert est.add(1.0 - 0.05, at=20.0) == pytest.approx(0.95)  # old samples expire


def test_duplicates_other_groups_and_a_restarted_counter(caplog):
    feed, reader, clock = _feed()
    now = time.time()
    assert feed.receive(_msg("red", now - 3, seq=7), "mqtt")
    assert not feed.receive(_msg("red", now - 3, seq=7), "mqtt")  # QoS 1 redelivery
    assert feed.stats.duplicates == 1
    other = json.dumps({"site": "site-a", "signal_group": "P9", "phase": "green",
                        "controller_time": now}).encode()  # fmt: skip
    assert not feed.receive(other, "mqtt") and feed.stats.other_groups == 1
    assert feed.stats.rejected == 0
    # The bridge restarts and counts from 0 again: used (not dropped as old numbers),
    # and the run restarts there (a change may have been lost meanwhile).
    time.sleep(0.3)
    t_restart = clock.now()
    assert feed.receive(_msg("red", time.time(), seq=0), "mqtt")
    time.sleep(0.1)
    assert feed.receive(_msg("red", time.time(), seq=1), "mqtt")
    reading = reader.update(None, clock.now())
    assert reading.state is SignalState.RED
    assert reading.since == pytest.approx(t_restart, abs=0.05)


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"\xff\xfe not json", "payload: Invalid JSON"),
        (b"[1, 2]", "payload: Input should be an object"),
        (_msg("purple", 0.0), "phase: Input should be"),
        (_msg("red", "yesterday"), "controller_time: Input should be a valid datetime"),
        (_msg("red", "2026-12-01T10:00:00"), "controller_time: Input should have timezone"),
        (_msg("red", 1.0, seq=-1), "seq: Input should be greater than or equal to 0"),
        (_msg("red", 1.0, extra="x"), "extra: Extra inputs are not permitted"),
        (_msg("red", 1.0).replace(b"site-a", b"site-b"), "site: expected 'site-a'"),
        (b"{" + b" " * 5000 + b"}", "5002 bytes, expected at most 4096"),
    ],
)
def test_bad_messages_are_rejected_with_one_line_naming_the_field(payload, why, caplog):
    feed, reader, _clock = _feed()
    with caplog.at_level(logging.WARNING, logger="edge.signal.live"):
        assert feed.receive(payload, "udp") is False
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and why in lines[0] and "udp" in lines[0], lines
    assert feed.stats.rejected == 1 and reader.rejected == 1 and reader.messages == 0


def test_a_wild_controller_clock_is_rejected_and_does_not_drag_the_skew():
    feed, reader, _clock = _feed(max_skew_s=600.0)
    assert feed.receive(_msg("red", time.time() + 1.0), "mqtt")
    assert not feed.receive(_msg("green", time.time() + 86_400 * 365), "mqtt")
    assert reader.skew_s == pytest.approx(1.0, abs=0.05) and reader.rejected == 1


def test_a_flood_of_bad_messages_is_counted_but_logs_at_most_ten_lines(caplog):
    feed, _reader, _clock = _feed()
    with caplog.at_level(logging.WARNING, logger="edge.signal.live"):
        for _ in range(500):
            feed.receive(b"garbage", "udp")
    assert feed.stats.rejected == 500
    assert len(caplog.records) == 10


@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(data):
    feed, reader, _clock = _feed()
    assert feed.receive(data, "udp") is False
    assert reader.messages == 0


def test_udp_and_http_inputs_feed_the_same_reader():
    feed, reader, clock = _feed()
    udp = UdpInput(feed, "127.0.0.1", 0, [])
    http = HttpInput(feed, "127.0.0.1", 0, [])
    udp.start()
    http.start()
    try:
        now = time.time()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(_msg("red", now, seq=1), ("127.0.0.1", udp.port))
            s.sendto(b"not json", ("127.0.0.1", udp.port))
        deadline = time.monotonic() + 5
        while feed.stats.accepted < 1 or feed.stats.rejected < 1:
            assert time.monotonic() < deadline, feed.stats
            time.sleep(0.02)

        def post(body: bytes, path: str = "/phase") -> int:
            req = urllib.request.Request(f"http://127.0.0.1:{http.port}{path}", body, method="POST")
            try:
                return urllib.request.urlopen(req, timeout=5).status
            except urllib.error.HTTPError as e:
                return e.code

        assert post(_msg("green", now + 0.5, seq=2)) == 202
        assert post(_msg("green", now + 0.5, seq=2)) == 200  # duplicate
        assert post(b'{"site": 1}') == 400
        assert post(_msg("red", now), "/other") == 404
        assert post(b"x" * 5000) == 413
        assert feed.stats.by_input == {"udp": 1, "http": 1}
        reading = reader.update(None, clock.now())
        assert reading.state is SignalState.GREEN and reading.previous is SignalState.RED
    finally:
        udp.stop()
        http.stop()


def test_lan_inputs_refuse_senders_not_allowed():
    from ipaddress import ip_address

    feed, reader, _clock = _feed()
    udp = UdpInput(feed, "127.0.0.1", 0, [ip_address("10.9.9.9")])
    udp.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(_msg("red", time.time()), ("127.0.0.1", udp.port))
        deadline = time.monotonic() + 5
        while feed.stats.rejected < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert reader.messages == 0
    finally:
        udp.stop()


def test_a_silent_feed_reads_unknown_says_so_and_recovers(caplog):
    feed, reader, clock = _feed(timeout_s=0.5)
    feed.receive(_msg("red", time.time()), "mqtt")
    assert reader.update(None, clock.now()).state is SignalState.RED
    with caplog.at_level(logging.INFO, logger="edge.signal.controller"):
        time.sleep(0.7)
        assert reader.update(None, clock.now()).state is SignalState.UNKNOWN
        assert reader.status().stale and reader.status().stale_for_s >= 0.5
        feed.receive(_msg("red", time.time()), "mqtt")
        assert reader.update(None, clock.now()).state is SignalState.RED
    text = [r.getMessage() for r in caplog.records]
    assert any("silent for more than 0.5 s" in m for m in text)
    assert any("resumed" in m for m in text) and not reader.status().stale
