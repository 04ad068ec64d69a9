"""The evidence buffer picks frames that show the person."""

from __future__ import annotations

import numpy as np

from edge.capture import Frame
from edge.evidence import FrameBuffer, encode_jpeg


def buffer_with(seen: dict[int, list[int]], n: int = 20) -> FrameBuffer:
    """Frames 0..n-1 at 10 fps; ``seen`` maps a track id to the frames it was detected on."""
    buf = FrameBuffer(keep_s=5.0)
    img = np.zeros((8, 8, 3), np.uint8)
    for i in range(n):
        boxes = {tid: (0.0, 0.0, 1.0, 1.0) for tid, frames in seen.items() if i in frames}
        buf.add(Frame(i, i / 10, img), boxes)
    return buf


def test_before_skips_frames_where_the_person_was_missed() -> None:
    buf = buffer_with({7: [3, 4, 8, 9, 10]})
    assert buf.at_or_before(0.6).frame.index == 6  # the plain frame at that time
    assert buf.before(0.6, 7).frame.index == 4  # the newest one that shows track 7


def test_before_falls_back_to_the_first_sighting_then_to_time() -> None:
    buf = buffer_with({7: [12, 13]})
    assert buf.before(0.6, 7).frame.index == 12
    assert buf.before(0.6, 99).frame.index == 6


def test_buffer_keeps_only_its_window() -> None:
    buf = buffer_with({}, n=100)
    assert buf.by_index(10) is None and buf.by_index(99) is not None


def test_jpeg_round_trip() -> None:
    import cv2

    img = np.full((32, 32, 3), 128, np.uint8)
    back = cv2.imdecode(np.frombuffer(encode_jpeg(img, 90), np.uint8), cv2.IMREAD_COLOR)
    assert back.shape == img.shape and abs(int(back.mean()) - 128) <= 2


def test_buffer_of_huge_frames_stays_within_its_byte_budget(caplog) -> None:
    """An 8K camera (100 MB a frame) at 10 fps would hold gigabytes for 3 s of history:
    the buffer keeps at most ``max_bytes`` (the newest frames), and says so once."""
    import logging

    frame_bytes = 4320 * 7680 * 3
    buf = FrameBuffer(keep_s=3.0, max_bytes=5 * frame_bytes)
    img = np.zeros((4320, 7680, 3), np.uint8)  # one array: the budget counts each frame
    with caplog.at_level(logging.WARNING, logger="edge.evidence"):
        for i in range(30):
            buf.add(Frame(i, i / 10, img), {})
    assert [bf.frame.index for bf in buf.since(0)] == [25, 26, 27, 28, 29]
    assert len(caplog.records) == 1 and "7680x4320" in caplog.records[0].getMessage()
