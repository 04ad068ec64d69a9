"""Reading source videos and writing the sample videos (mp4v in .mp4, 10 fps)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np


def read_frames(path: Path, start: int = 0, count: int | None = None) -> Iterator[np.ndarray]:
    """Yield BGR frames ``start`` .. ``start + count - 1`` of ``path``."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FileNotFoundError(f"{path}: cannot open video")
    try:
        i = 0
        while count is None or i < start + count:
            ok, frame = cap.read()
            if not ok:
                break
            if i >= start:
                yield frame
            i += 1
    finally:
        cap.release()


class VideoSink:
    """Write frames to an .mp4 (MPEG-4 Part 2, 'mp4v'), which opencv-python-headless reads."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.size, self.count = path, size, 0
        self._w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self._w.isOpened():
            raise RuntimeError(f"{path}: cannot open video writer")

    def write(self, frame: np.ndarray) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, video is {self.size}")
        self._w.write(frame)
        self.count += 1

    def close(self) -> None:
        """Finish the file and check that it reads back with the expected frame count."""
        self._w.release()
        cap = cv2.VideoCapture(str(self.path))
        n = 0
        while cap.read()[0]:
            n += 1
        cap.release()
        if n != self.count:
            raise RuntimeError(f"{self.path}: wrote {self.count} frames, read back {n}")
