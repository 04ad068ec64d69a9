"""Does a camera's configured geometry (``crossing.zone``, ``signal.roi``) fit its frames?

Both are typed in pixels of the camera's image, so they are only meaningful against the
frame size the source actually delivers. A ROI that reaches outside the frame would
measure a clipped part of the signal head; a zone entirely outside the frame enforces
nothing, silently. :func:`geometry_problems` names each problem in one line, e.g.::

    signal.roi: [700, 100, 100, 50] reaches x=800, outside the 768×576 frame ...

``strict`` (the installer's ``jaywatch edge check``) also refuses zone points outside the
frame; the running pipeline refuses only a zone with no part inside (a carriageway may
legitimately continue past the image edge).
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.config import CameraConfig, ConfigError


class FrameGeometryError(ConfigError):
    """The configured zone or ROI does not fit the frames the source delivers."""


def _fmt(v: float) -> str:
    return f"{v:g}"


def roi_problem(roi: tuple[int, int, int, int] | None, width: int, height: int) -> str | None:
    if roi is None:
        return None
    x, y, w, h = roi
    if x + w > width or y + h > height:
        return (
            f"signal.roi: [{x}, {y}, {w}, {h}] reaches x={x + w}, y={y + h}, outside the "
            f"{width}×{height} frame (expected x + w <= {width} and y + h <= {height})"
        )
    return None


def zone_inside_pixels(zone: list[tuple[float, float]], width: int, height: int) -> int:
    """How many frame pixels the zone polygon covers (0: entirely outside the frame)."""
    mask = np.zeros((height, width), np.uint8)
    pts = np.round(np.asarray(zone, dtype=np.float64)).astype(np.int32)
    # Clip far-away points so OpenCV's fixed-point rasteriser cannot overflow.
    big = 4 * max(width, height)
    cv2.fillPoly(mask, [np.clip(pts, -big, big)], 255)
    return int(np.count_nonzero(mask))


def zone_problem(
    zone: list[tuple[float, float]], width: int, height: int, *, strict: bool
) -> str | None:
    if zone_inside_pixels(zone, width, height) == 0:
        xs = [p[0] for p in zone]
        ys = [p[1] for p in zone]
        return (
            f"crossing.zone: entirely outside the {width}×{height} frame (points span "
            f"x {_fmt(min(xs))}..{_fmt(max(xs))}, y {_fmt(min(ys))}..{_fmt(max(ys))}); "
            "nothing could ever be detected entering it"
        )
    if strict:
        outside = [
            (i, p) for i, p in enumerate(zone) if not (0 <= p[0] <= width and 0 <= p[1] <= height)
        ]
        if outside:
            i, (px, py) = outside[0]
            more = f" (and {len(outside) - 1} more)" if len(outside) > 1 else ""
            return (
                f"crossing.zone: point {i} [{_fmt(px)}, {_fmt(py)}] is outside the "
                f"{width}×{height} frame (expected 0 <= x <= {width}, 0 <= y <= {height}){more}"
            )
    return None


def geometry_problems(cfg: CameraConfig, width: int, height: int, *, strict: bool) -> list[str]:
    """Every problem of ``cfg``'s zone and ROI against a ``width``×``height`` frame."""
    problems = [
        roi_problem(cfg.signal.roi if cfg.signal.source == "roi" else None, width, height),
        zone_problem(cfg.crossing.zone, width, height, strict=strict),
    ]
    return [p for p in problems if p is not None]


class FrameGeometryGuard:
    """Checks each new frame size once; raises :class:`FrameGeometryError` on the first
    problem (the pipeline calls it before anything reads the frame). The message names
    the key, not the file: callers know which file or camera it came from."""

    def __init__(self, cfg: CameraConfig) -> None:
        self._cfg = cfg
        self._checked: tuple[int, int] | None = None

    def check(self, image: np.ndarray) -> None:
        self.check_size(int(image.shape[1]), int(image.shape[0]))

    def check_size(self, width: int, height: int) -> None:
        shape = (width, height)
        if shape == self._checked:
            return
        problems = geometry_problems(self._cfg, *shape, strict=False)
        if problems:
            raise FrameGeometryError(problems[0])
        self._checked = shape
