"""Constant-velocity Kalman filter for many boxes at once, with elapsed-time steps.

State per track: ``[cx, cy, w, h, vcx, vcy, vw, vh]`` (centre, width, height, and their
rates in pixels per second).

Why centre/width/height and not centre/aspect/height (SORT, DeepSORT) or raw ``xyxy``:

* A walking person's width swings with the gait while the height barely changes; with
  an aspect-ratio state the two are coupled through ``a = w / h`` and a tiny aspect noise
  makes the filter fight every stride. Width and height as separate states let each
  have its own noise (BoT-SORT made the same change for pedestrians).
* ``w / h`` is undefined for a zero-height box; ``cx, cy, w, h`` stays finite for any
  finite box, so degenerate detections cannot put NaN into a track.
* In ``xyxy`` the four corners move together (they share the walking velocity), so
  their noises are strongly correlated and a diagonal model is wrong; the centre
  carries the motion and the size carries the scale, which matches a diagonal model.

Why time-based: the analysis rate varies and the motion gate skips frames, so the
transition uses the elapsed ``dt`` in seconds and the process noise is the continuous
white-noise-acceleration model integrated over ``dt`` (variance grows like ``dt**3``
for positions and ``dt`` for rates). Every noise is scaled by the box height so the
filter behaves the same for a person near the camera and one far away.

All functions work on stacked arrays (``(N, 8)`` means, ``(N, 8, 8)`` covariances) so a
frame with tens of tracks costs a handful of numpy calls, not a Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NDIM = 4
# Heights below this (pixels) are treated as this, so noises never collapse to zero.
_MIN_SCALE_PX = 1.0


@dataclass(frozen=True, slots=True)
class KalmanNoise:
    """Noise levels, each in units of the box height (so they are scale free).

    Attributes:
        meas_pos: measurement std of the centre (detector jitter), × h.
        meas_w: measurement std of the width (gait makes it noisier than height), × h.
        meas_h: measurement std of the height, × h.
        accel_pos: white-noise acceleration of the centre, × h per s². A pedestrian
            reaches walking speed (about 0.8 heights per second) within about a second.
        accel_size: white-noise rate change of width/height, × h per s² (approach or
            recede from the camera changes size slowly).
        init_vel_pos: std of the unknown initial centre velocity, × h per s (covers
            walking to jogging).
        init_vel_size: std of the unknown initial size rate, × h per s.
    """

    meas_pos: float = 0.05
    meas_w: float = 0.10
    meas_h: float = 0.05
    accel_pos: float = 1.0
    accel_size: float = 0.2
    init_vel_pos: float = 1.0
    init_vel_size: float = 0.1


def xyxy_to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    """``(N, 4)`` corners to centre/size; inverted boxes get zero width/height."""
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    w = np.maximum(xyxy[:, 2] - xyxy[:, 0], 0.0)
    h = np.maximum(xyxy[:, 3] - xyxy[:, 1], 0.0)
    cx = (xyxy[:, 0] + xyxy[:, 2]) * 0.5
    cy = (xyxy[:, 1] + xyxy[:, 3]) * 0.5
    return np.stack([cx, cy, w, h], axis=1)


def cxcywh_to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    """``(N, 4+)`` centre/size (extra columns ignored) to corners; negative sizes → 0."""
    c = np.asarray(cxcywh, np.float64)
    if c.ndim != 2 or c.shape[1] < NDIM:
        raise ValueError(f"expected (N, 4+) centre/size boxes, got shape {c.shape}")
    half_w = np.maximum(c[:, 2], 0.0) * 0.5
    half_h = np.maximum(c[:, 3], 0.0) * 0.5
    return np.stack([c[:, 0] - half_w, c[:, 1] - half_h, c[:, 0] + half_w, c[:, 1] + half_h], 1)


class BoxKalman:
    """Batched constant-velocity Kalman filter over ``[cx, cy, w, h]`` boxes."""

    def __init__(self, noise: KalmanNoise | None = None) -> None:
        self.noise = noise or KalmanNoise()
        n = self.noise
        self._meas_std = np.array([n.meas_pos, n.meas_pos, n.meas_w, n.meas_h])
        self._accel_std = np.array([n.accel_pos, n.accel_pos, n.accel_size, n.accel_size])
        self._init_std = np.concatenate(
            [
                2.0 * self._meas_std,
                [n.init_vel_pos, n.init_vel_pos, n.init_vel_size, n.init_vel_size],
            ]
        )

    def initiate(self, boxes_cxcywh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New tracks from measurements: zero velocity, wide velocity uncertainty.

        Returns ``(mean (N, 8), cov (N, 8, 8))``.
        """
        z = np.asarray(boxes_cxcywh, np.float64).reshape(-1, NDIM)
        mean = np.concatenate([z, np.zeros_like(z)], axis=1)
        std = self._init_std[None, :] * _scale(z[:, 3])[:, None]
        cov = np.zeros((len(z), 2 * NDIM, 2 * NDIM))
        idx = np.arange(2 * NDIM)
        cov[:, idx, idx] = std**2
        return mean, cov

    def predict(
        self, mean: np.ndarray, cov: np.ndarray, dt: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Advance every track by ``dt`` seconds (``dt <= 0`` returns copies unchanged)."""
        if dt <= 0.0 or len(mean) == 0:
            return mean.copy(), cov.copy()
        f = np.eye(2 * NDIM)
        f[:NDIM, NDIM:] = dt * np.eye(NDIM)
        # Continuous white-noise acceleration integrated over dt, per axis.
        q_pp, q_pv, q_vv = dt**3 / 3.0, dt**2 / 2.0, dt
        a2 = self._accel_std**2
        q_unit = np.zeros((2 * NDIM, 2 * NDIM))
        i = np.arange(NDIM)
        q_unit[i, i] = a2 * q_pp
        q_unit[i, i + NDIM] = a2 * q_pv
        q_unit[i + NDIM, i] = a2 * q_pv
        q_unit[i + NDIM, i + NDIM] = a2 * q_vv
        h2 = _scale(mean[:, 3]) ** 2
        new_mean = mean @ f.T
        new_cov = f @ cov @ f.T + h2[:, None, None] * q_unit
        return new_mean, new_cov

    def update(
        self, mean: np.ndarray, cov: np.ndarray, z_cxcywh: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Correct each track ``i`` with its measurement ``z[i]`` (rows paired)."""
        if len(mean) == 0:
            return mean.copy(), cov.copy()
        z = np.asarray(z_cxcywh, np.float64).reshape(-1, NDIM)
        s = self._innovation_cov(mean, cov)
        ph = cov[:, :, :NDIM]  # P Hᵀ, (N, 8, 4)
        # K = P Hᵀ S⁻¹, solved rather than inverted (S is symmetric positive definite).
        gain = np.linalg.solve(s, ph.transpose(0, 2, 1)).transpose(0, 2, 1)
        innov = z - mean[:, :NDIM]
        new_mean = mean + np.einsum("nij,nj->ni", gain, innov)
        new_cov = cov - gain @ cov[:, :NDIM, :]
        new_cov = 0.5 * (new_cov + new_cov.transpose(0, 2, 1))
        return new_mean, new_cov

    def nll(self, mean: np.ndarray, cov: np.ndarray, z_cxcywh: np.ndarray) -> np.ndarray:
        """``(N, M)`` negative log-likelihood of each measurement under each track.

        ``d² + ln det S`` (the Gaussian's constant dropped), with ``d²`` the squared
        Mahalanobis distance of the innovation and ``S`` the innovation covariance.
        The ``ln det S`` term is what makes it comparable across tracks: an uncertain
        track (young, or lost for a while) cannot win a detection merely because its
        wide covariance makes every detection look close.
        """
        z = np.asarray(z_cxcywh, np.float64).reshape(-1, NDIM)
        if len(mean) == 0 or len(z) == 0:
            return np.zeros((len(mean), len(z)))
        s = self._innovation_cov(mean, cov)
        s_inv = np.linalg.inv(s)
        innov = z[None, :, :] - mean[:, None, :NDIM]  # (N, M, 4)
        d2 = np.einsum("nmi,nij,nmj->nm", innov, s_inv, innov)
        _, logdet = np.linalg.slogdet(s)
        return d2 + logdet[:, None]

    def _innovation_cov(self, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
        """``S = H P Hᵀ + R`` for each track, ``(N, 4, 4)``."""
        r_std = self._meas_std[None, :] * _scale(mean[:, 3])[:, None]
        s = cov[:, :NDIM, :NDIM].copy()
        i = np.arange(NDIM)
        s[:, i, i] += r_std**2
        return s


def _scale(h: np.ndarray) -> np.ndarray:
    """Box height used to scale noises, floored so zero-height boxes stay well-posed."""
    return np.maximum(np.abs(h), _MIN_SCALE_PX)
