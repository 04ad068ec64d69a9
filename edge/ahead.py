"""Run an iterator on its own thread, a few items ahead of its consumer.

The frame loop is a chain of stages (decode → motion gate + detector → tracker, rule,
evidence). Decode (OpenCV/FFmpeg) and inference (onnxruntime) release the GIL, so a
stage on its own thread overlaps the next one instead of adding to it: on 2 cores the
decode of frame n+1 and the tracker of frame n-1 run while the detector works on
frame n. Items come out in order and unchanged, so what the pipeline decides does not
depend on whether a stage runs ahead.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")


def ahead(items: Iterator[T], name: str, depth: int = 2) -> Iterator[T]:
    """Yield ``items`` while a thread called ``name`` produces them, ``depth`` ahead.

    An exception raised by ``items`` (a damaged file's CaptureError, a frame that does
    not fit the zone) is raised here after the items before it. ``depth`` bounds the
    memory (a 720p BGR frame is 2.8 MB). Closing this generator (the consumer leaves its
    loop) stops the thread, which then closes ``items`` itself: ``items`` is only ever
    run by that one thread (FFmpeg objects must not be used from two at once).
    """
    if depth < 1:
        raise ValueError(f"depth: expected >= 1, got {depth}")
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(item):
                    break
            else:
                put(end)
        except BaseException as e:  # handed to the consumer, raised there
            put(_Raised(e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    th = threading.Thread(target=run, name=name, daemon=True)
    th.start()
    try:
        while True:
            item = q.get()
            if item is end:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item
    finally:
        stop.set()
        while th.is_alive():  # unblock a put waiting for room, then let the thread end
            try:
                q.get_nowait()
            except queue.Empty:
                th.join(0.01)


class _Raised:
    """An exception the producer raised (wrapped: an item may itself be an exception)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error
