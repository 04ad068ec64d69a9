"""Scripted walkers: where a sprite's feet are at time t, how tall it is there.

Speed and height follow the camera's perspective (``Perspective``): a person is drawn
as tall as real people at that image row were in the source video, and walks 1.35 m/s
measured in their own body heights (1.7 m), so near people move faster on screen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tools.sprites import Sprite

WALK_M_S = 1.35
BODY_M = 1.7


@dataclass(frozen=True)
class Perspective:
    """Person height in pixels as a linear function of the foot row: h = a * y + b."""

    a: float
    b: float

    def height(self, y: float) -> float:
        return self.a * y + self.b

    def speed(self, y: float) -> float:
        """Walking speed in pixels per second at foot row ``y``."""
        return WALK_M_S * self.height(y) / BODY_M


@dataclass(frozen=True)
class Walker:
    """A sprite that follows ``path`` (foot points) from ``t_start``; a one-point path stands.

    ``t_end`` only matters for a standing walker (one-point path): it is visible from
    ``t_start`` to ``t_end``.
    """

    id: str
    sprite: Sprite
    path: tuple[tuple[float, float], ...]
    t_start: float
    t_end: float | None = None

    def _trace(self, persp: Perspective, dt: float = 0.005) -> tuple[np.ndarray, np.ndarray]:
        """Dense (times, foot points) from the start of the path to its end."""
        pts = np.asarray(self.path, np.float64)
        if len(pts) == 1:
            return np.array([0.0, (self.t_end or self.t_start) - self.t_start]), np.vstack(
                [pts, pts]
            )
        seg_len = np.linalg.norm(np.diff(pts, axis=0), axis=1)
        cum = np.concatenate([[0.0], np.cumsum(seg_len)])
        ts, ps, s, t = [0.0], [pts[0]], 0.0, 0.0
        while s < cum[-1]:
            p = ps[-1]
            s = min(cum[-1], s + persp.speed(p[1]) * dt)
            t += dt
            k = min(int(np.searchsorted(cum, s, side="right")) - 1, len(seg_len) - 1)
            f = (s - cum[k]) / seg_len[k]
            ps.append(pts[k] + f * (pts[k + 1] - pts[k]))
            ts.append(t)
        return np.array(ts), np.array(ps)

    def foot_at(self, t: float, persp: Perspective) -> tuple[float, float] | None:
        """Foot point at time ``t``, or None before the start / after the end of the path."""
        ts, ps = self._cached(persp)
        tau = t - self.t_start
        if tau < 0 or tau > ts[-1]:
            return None
        x = float(np.interp(tau, ts, ps[:, 0]))
        y = float(np.interp(tau, ts, ps[:, 1]))
        return (x, y)

    def heading_dx(self, t: float, persp: Perspective) -> float:
        """Horizontal direction of motion at ``t`` (for mirroring side-view sprites)."""
        a, b = self.foot_at(t - 0.05, persp), self.foot_at(t + 0.05, persp)
        if a is None or b is None:
            return 0.0
        return b[0] - a[0]

    def first_time_inside(self, inside, persp: Perspective) -> float | None:
        """Seconds after ``t_start`` at which ``inside(foot)`` first holds (dense search)."""
        ts, ps = self._cached(persp)
        for t, p in zip(ts, ps, strict=True):
            if inside((float(p[0]), float(p[1]))):
                return float(t)
        return None

    def _cached(self, persp: Perspective) -> tuple[np.ndarray, np.ndarray]:
        key = "_trace_cache"
        cache = self.__dict__.get(key)
        if cache is None or cache[0] != persp:
            cache = (persp, *self._trace(persp))
            object.__setattr__(self, key, cache)
        return cache[1], cache[2]
