"""Input check shared by the detector plugins.

A grey (H, W) frame or a float image would otherwise fail deep inside OpenCV or
onnxruntime with a message that names neither the frame nor what was expected.
"""

from __future__ import annotations

import numpy as np


def check_bgr_frame(frame: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``frame`` is a non-empty uint8 ``(H, W, 3)`` array."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", type(frame).__name__)
        raise ValueError(f"frame: expected a BGR image (H, W, 3), got {shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame: expected dtype uint8, got {frame.dtype}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"frame: expected a non-empty image, got {frame.shape}")
