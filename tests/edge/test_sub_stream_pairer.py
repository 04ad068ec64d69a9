"""SubStreamPairer (edge/av_capture.py) on its own: the wait for a sub frame that arrives
after its main frame, its bounds (max_skew_s, a dead sub stream), and what health and the
log say when the sub stream goes. Counts, not timings: the waits here are set far longer
than any load could stretch the steps between them, and the pytest timeout catches a
wait that is not bounded."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

from edge.av_capture import SubStreamPairer

IMG = np.zeros((36, 64, 3), np.uint8)


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_file_mode_never_waits_and_pairs_the_nearest() -> None:
    p = SubStreamPairer(0.04)  # no clock: a file's reader adds the frames before asking
    assert p.pair(0.0) is None and p.waited == 0
    p.add(0.0, IMG)
    p.add(0.1, IMG + 1)
    assert p.pair(0.09)[0, 0, 0] == 1  # type: ignore[index]
    assert p.pair(0.05) is None  # 0.05 from both: beyond 0.04
    assert (p.paired, p.unpaired, p.waited) == (1, 2, 0)


@pytest.mark.timeout(60)
def test_live_waits_for_the_sub_frame_that_arrives_after_its_main_frame() -> None:
    p = SubStreamPairer(5.0, now=time.monotonic)
    t0 = time.monotonic()
    p.add(t0 - 0.1, IMG)  # the previous moment's sub frame: the sub stream is alive
    main_t = time.monotonic()

    def late_sub() -> None:
        time.sleep(0.05)
        p.add(main_t + 0.001, IMG + 7)  # the same moment, a little later

    threading.Thread(target=late_sub).start()
    got = p.pair(main_t)
    assert got is not None and got[0, 0, 0] == 7  # not the frame 0.1 s older
    assert (p.paired, p.waited) == (1, 1)


@pytest.mark.timeout(60)
def test_without_waiting_the_late_sub_frame_is_missed() -> None:
    p = SubStreamPairer(5.0, now=time.monotonic, wait=False)
    p.add(time.monotonic() - 0.1, IMG)
    got = p.pair(time.monotonic())
    assert got is not None and got[0, 0, 0] == 0 and p.waited == 0  # only the older one


@pytest.mark.timeout(60)
def test_wait_ends_at_a_sub_frame_after_the_main_moment_even_if_far() -> None:
    # A sub frame newer than t means no later one can be nearer: no wait at all.
    p = SubStreamPairer(5.0, now=time.monotonic)
    t = time.monotonic()
    p.add(t + 0.01, IMG + 3)
    assert p.pair(t)[0, 0, 0] == 3 and p.waited == 0  # type: ignore[index]


@pytest.mark.timeout(60)
def test_wait_is_bounded_by_max_skew() -> None:
    p = SubStreamPairer(0.2, now=time.monotonic)
    p.add(time.monotonic() - 0.01, IMG)
    # Nothing newer comes: it waits (bounded: the call returns), then pairs the frame
    # 0.01 s older, within the skew.
    assert p.pair(time.monotonic()) is not None and p.waited == 1
    p.add(time.monotonic() - 0.01, IMG)
    # A main frame whose moment is already max_skew_s past (a pipeline behind): no wait.
    assert p.pair(time.monotonic() - 0.5) is None and p.waited == 1


@pytest.mark.timeout(60)
def test_never_waits_while_the_sub_stream_is_down() -> None:
    p = SubStreamPairer(30.0, now=time.monotonic)  # a wait would hit the test timeout
    p.add(time.monotonic() - 0.1, IMG)
    p.connected(False)  # the reader lost the stream
    assert p.pair(time.monotonic()) is None and p.waited == 0
    assert p.unpaired_down == 1


@pytest.mark.timeout(60)
def test_a_sub_stream_dropping_during_the_wait_ends_it() -> None:
    p = SubStreamPairer(30.0, now=time.monotonic)
    p.add(time.monotonic() - 0.5, IMG)

    def drop() -> None:
        time.sleep(0.05)
        p.connected(False)

    threading.Thread(target=drop).start()
    assert p.pair(time.monotonic()) is None
    assert (p.waited, p.unpaired, p.unpaired_down) == (1, 1, 1)


@pytest.mark.timeout(60)
def test_silent_sub_stream_counts_as_dead_after_dead_after_s() -> None:
    clock = FakeClock()
    p = SubStreamPairer(30.0, now=clock, dead_after_s=1.0)
    p.add(clock.t, IMG)
    clock.t += 1.5  # no sub frame for 1.5 s, though still connected
    # Paired (1.5 s is within 30) without waiting for a newer one: a wait would time out.
    assert p.pair(clock.t) is not None and p.waited == 0


def test_lost_sub_stream_warns_once_health_says_so_and_its_return_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="edge.av_capture")
    clock = FakeClock()
    p = SubStreamPairer(0.05, now=clock, wait=False, dead_after_s=1.0, name="cam-x")
    for _ in range(30):  # sub and main together, 10 fps
        p.add(clock.t, IMG)
        assert p.pair(clock.t) is not None
        clock.t += 0.1
    assert p.check() is None
    for _ in range(50):  # the sub stream stops; main goes on for 5 s
        assert p.pair(clock.t) is None
        clock.t += 0.1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cam-x detect stream" in warnings[0].getMessage()
    assert "main image" in warnings[0].getMessage()
    why = p.check()
    assert why is not None and why.startswith("sub stream down for 5 s")
    for _ in range(5):  # back
        p.add(clock.t, IMG)
        assert p.pair(clock.t) is not None
        clock.t += 0.1
    assert any("back" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    # Back, but most of the last 100 main frames went unpaired: health still says so.
    why = p.check()
    assert why is not None and why.startswith("only 35 of the last 85 main frames")


def test_sub_stream_not_there_yet_is_down_only_after_the_startup_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="edge.av_capture")
    clock = FakeClock()
    p = SubStreamPairer(0.05, now=clock, startup_s=5.0, name="cam-y")
    for _ in range(40):  # 4 s without any sub frame: starting up
        assert p.pair(clock.t) is None
        clock.t += 0.1
    assert p.check() is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    for _ in range(20):
        p.pair(clock.t)
        clock.t += 0.1
    assert p.check() == "sub stream down (no frame yet): detecting on the main image"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "no sub-stream frame yet" in warnings[0]


def test_another_aspect_is_said_once_per_size_pair(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge.av_capture")
    p = SubStreamPairer(0.05, name="cam-z")
    for k in range(5):
        p.add(k * 0.1, np.zeros((480, 640, 3), np.uint8))  # 4:3 beside a 16:9 main
        assert p.pair(k * 0.1, (1280, 720)) is not None
    for k in range(5, 10):
        p.add(k * 0.1, np.zeros((270, 480, 3), np.uint8))  # resized, 16:9 again
        assert p.pair(k * 0.1, (1280, 720)) is not None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "640x480 has another aspect than the main 1280x720" in warnings[0]
    assert any("frames now 480x270" in r.getMessage() for r in caplog.records)
