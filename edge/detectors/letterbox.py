"""Letterbox resize (keep aspect ratio, pad) and its inverse, as YOLO models expect.

YOLO models are trained on letterboxed images: stretching a 16:9 frame into a square
would make people look thinner than anything the model saw. The pad value 114 (mid grey)
and centred padding follow the Ultralytics/YOLOv5 convention the exported models were
trained with.

>>> import numpy as np
>>> img, lb = letterbox(np.zeros((360, 640, 3), np.uint8), 320)
>>> img.shape, lb.scale, lb.pad_x, lb.pad_y
((320, 320, 3), 0.5, 0, 70)
>>> lb.to_frame(np.array([[0, 70, 320, 250]], np.float32)).tolist()
[[0.0, 0.0, 640.0, 360.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a frame was placed into the square network input."""

    scale: float
    pad_x: int
    pad_y: int
    frame_w: int
    frame_h: int

    def to_frame(self, xyxy: np.ndarray, clip: bool = True) -> np.ndarray:
        """Map ``(N, 4)`` boxes from network-input pixels back to frame pixels, clipped
        unless ``clip`` is false (the sanitizer clips, and counts what it drops)."""
        pad = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], np.float32)
        limit = np.array([self.frame_w, self.frame_h, self.frame_w, self.frame_h], np.float32)
        out = (np.asarray(xyxy, np.float32).reshape(-1, 4) - pad) / np.float32(self.scale)
        if not clip:
            return out
        return np.clip(out, 0, limit).astype(np.float32, copy=False)


def letterbox(frame: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """Resize ``frame`` to fit ``size`` x ``size`` keeping aspect, pad the rest with 114."""
    h, w = frame.shape[:2]
    scale = min(size / h, size / w)
    new_w, new_h = round(w * scale), round(h * scale)
    resized = (
        frame
        if (new_w, new_h) == (w, h)
        else cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    )
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    out = np.full((size, size, frame.shape[2]), PAD_VALUE, dtype=frame.dtype)
    out[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    return out, Letterbox(scale, pad_x, pad_y, w, h)
