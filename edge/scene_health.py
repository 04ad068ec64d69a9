"""Scene checks: is the camera still showing what it was set up to show?

A camera that delivers frames is not necessarily useful. The gateway's worker feeds
every analysed frame to a :class:`SceneMonitor`, which keeps the work cheap:

- **frozen**: every frame, a strided sample of pixels (no decode, no resize) is compared
  with the previous one; identical for longer than ``frozen_after_s`` is an encoder or
  stream stuck on one picture (a live camera's sensor noise always changes something).
- **dark / covered / monochrome**: every ``check_every_s``, the mean and spread of a small
  grey thumbnail and its colourfulness: a dark image (lens covered, night without IR),
  a nearly uniform one (covered, fogged, pointing at the sky) or a colourless one (IR
  night mode: the signal's colour cannot be read). Each must last ``dark_after_s``.
- **moved**: every ``moved_every_s``, ORB features of the frame are matched to the
  reference frame saved at calibration (``jaywatch edge calibrate``), a homography is
  fitted (RANSAC) and the zone is mapped through it: if the zone drawn at calibration
  overlaps its mapped self by less than ``moved_min_overlap`` (or too few features
  match), the zone no longer lies on the carriageway. ``moved_after_checks`` failures
  in a row are needed (a bus parked in front is not a moved camera).

Times are on the frame clock (seconds since capture start: live streams' frames are
timed on a monotonic clock, so this is real time for them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from edge.config import SceneChecksConfig

log = logging.getLogger(__name__)

Check = Literal["frozen", "dark", "covered", "monochrome", "moved"]
_THUMB_W = 160  # brightness checks: a thumbnail this wide is plenty and costs ~0.2 ms
_ORB_W = 640  # view-moved check: frames are matched at this width at most


@dataclass(frozen=True)
class SceneFlag:
    check: Check
    since: float  # frame time the condition began
    reason: str  # for a person: what is wrong and what it probably means


def load_reference(path: Path) -> np.ndarray:
    """The calibration reference frame (BGR); raises ``ValueError`` naming the file."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: reference frame not readable as an image")
    return img


class _Held:
    """A condition that must hold for ``after_s`` before it is reported."""

    def __init__(self, after_s: float) -> None:
        self.after_s = after_s
        self.began: float | None = None
        self.reason = ""

    def update(self, active: bool, t: float, reason: str = "") -> None:
        if not active:
            self.began = None
            return
        if self.began is None:
            self.began = t
        self.reason = reason

    def flag(self, check: Check, t: float) -> SceneFlag | None:
        if self.began is None or t - self.began < self.after_s:
            return None
        return SceneFlag(check, self.began, self.reason)


class SceneMonitor:
    """Per-camera scene checks; ``observe`` each analysed frame, read ``flags()``."""

    def __init__(
        self,
        cfg: SceneChecksConfig,
        zone: list[tuple[float, float]],
        reference: np.ndarray | None = None,
    ) -> None:
        self.cfg = cfg
        self._zone = np.asarray(zone, dtype=np.float64)
        self._ref = reference
        self._ref_features: tuple[list, np.ndarray | None] | None = None
        self._orb = cv2.ORB_create(nfeatures=1500)
        self._prev_sample: np.ndarray | None = None
        self._changed_at: float | None = None
        self._t = 0.0
        self._next_light = 0.0
        self._next_moved = 0.0
        self._dark = _Held(cfg.dark_after_s)
        self._covered = _Held(cfg.dark_after_s)
        self._mono = _Held(cfg.dark_after_s)
        self._moved_fails = 0
        self._moved: SceneFlag | None = None
        self.last_overlap: float | None = None  # zone overlap at the latest moved check

    # --- per frame --------------------------------------------------------------------------

    def observe(
        self,
        image: np.ndarray | Callable[[], np.ndarray],
        t: float,
        frozen_sample: np.ndarray | None = None,
    ) -> None:
        """``image``: the BGR frame, or a function giving it (called only on the frames a
        light or moved check runs on: a frame converted on demand, edge/av_capture.py).
        ``frozen_sample``: what the frozen check compares, when not ``image[::16, ::16]``
        (:meth:`edge.capture.Frame.frozen_sample`)."""
        if not self.cfg.enabled:
            return
        self._t = t
        if frozen_sample is None:
            frozen_sample = (image() if callable(image) else image)[::16, ::16]
        self._frozen_step(frozen_sample, t)
        if t >= self._next_light:
            self._next_light = t + self.cfg.check_every_s
            image = image() if callable(image) else image
            self._light_step(image, t)
        if self._ref is not None and t >= self._next_moved:
            self._next_moved = t + self.cfg.moved_every_s
            # A dark, uniform or colourless frame cannot be matched fairly to a daylight
            # reference: the moved check waits for a usable picture.
            if self._dark.began is None and self._covered.began is None:
                self._moved_step(image() if callable(image) else image, t)

    def flags(self) -> list[SceneFlag]:
        t = self._t
        out: list[SceneFlag | None] = []
        if self._changed_at is not None and t - self._changed_at > self.cfg.frozen_after_s:
            out.append(
                SceneFlag(
                    "frozen",
                    self._changed_at,
                    f"frozen: identical frames for {t - self._changed_at:.0f} s "
                    "(stream or encoder stuck on one picture)",
                )
            )
        out += [
            self._dark.flag("dark", t),
            self._covered.flag("covered", t),
            self._mono.flag("monochrome", t),
            self._moved,
        ]
        return [f for f in out if f is not None]

    # --- the checks -------------------------------------------------------------------------

    def _frozen_step(self, sample: np.ndarray, t: float) -> None:
        # A strided view: ~1/256 of the pixels, no copy until compared; exact equality,
        # since a live sensor's noise changes some of them on every real frame.
        if self._prev_sample is None or not np.array_equal(sample, self._prev_sample):
            self._changed_at = t
        self._prev_sample = sample.copy()

    def _light_step(self, image: np.ndarray, t: float) -> None:
        h, w = image.shape[:2]
        scale = min(1.0, _THUMB_W / w)
        thumb = cv2.resize(
            image, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA
        )
        grey = cv2.cvtColor(thumb, cv2.COLOR_BGR2GRAY)
        mean, std = float(grey.mean()), float(grey.std())
        # Colourfulness: mean distance from neutral grey in the YCrCb chroma plane. HSV
        # saturation would not do: on dark pixels a little compression noise is "saturated".
        ycc = cv2.cvtColor(thumb, cv2.COLOR_BGR2YCrCb).astype(np.float32)
        chroma = float(np.hypot(ycc[..., 1] - 128, ycc[..., 2] - 128).mean())
        c = self.cfg
        dark = mean < c.dark_mean
        uniform = std < c.covered_std
        self._dark.update(
            dark,
            t,
            f"dark: mean brightness {mean:.0f}/255 (below {c.dark_mean:g}): lens covered, "
            "or night without IR light",
        )
        self._covered.update(
            not dark and uniform,
            t,
            f"covered: image nearly uniform (contrast {std:.1f}, below {c.covered_std:g}): "
            "lens covered, fogged or pointing at the sky",
        )
        self._mono.update(
            not dark and not uniform and chroma < c.monochrome_chroma,
            t,
            f"monochrome: no colour in the image (chroma {chroma:.1f}): IR night mode, "
            "the signal's colour cannot be read",
        )

    def _features(self, image: np.ndarray) -> tuple[list, np.ndarray | None, float]:
        h, w = image.shape[:2]
        scale = min(1.0, _ORB_W / w)
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if scale < 1.0:
            grey = cv2.resize(grey, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
        kps, desc = self._orb.detectAndCompute(grey, None)
        return list(kps), desc, scale

    def _moved_step(self, image: np.ndarray, t: float) -> None:
        assert self._ref is not None
        if self._ref.shape[:2] != image.shape[:2]:
            rh, rw = self._ref.shape[:2]
            fail = (
                f"moved: the frame is {image.shape[1]}×{image.shape[0]} but the calibration "
                f"reference is {rw}×{rh} (camera resolution changed: calibrate again)"
            )
            self._moved_result(False, t, fail, None)
            return
        if self._ref_features is None:
            kps, desc, _ = self._features(self._ref)
            self._ref_features = (kps, desc)
        ref_kps, ref_desc = self._ref_features
        kps, desc, scale = self._features(image)
        good: list = []
        if ref_desc is not None and desc is not None and len(ref_kps) >= 2 and len(kps) >= 2:
            pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(ref_desc, desc, k=2)
            good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
        homography, inliers = None, 0
        if len(good) >= 8:
            src = np.float32([ref_kps[m.queryIdx].pt for m in good])
            dst = np.float32([kps[m.trainIdx].pt for m in good])
            homography, mask = cv2.findHomography(src, dst, cv2.RANSAC, 4.0)
            inliers = int(mask.sum()) if mask is not None else 0
        if homography is None or inliers < self.cfg.moved_min_matches:
            self._moved_result(
                False,
                t,
                f"moved: only {inliers} features match the calibration reference (needs "
                f"{self.cfg.moved_min_matches}): view moved, blocked or changed",
                None,
            )
            return
        # The zone as drawn on the reference, mapped to where that ground is now.
        s = np.diag([scale, scale, 1.0])
        h_full = np.linalg.inv(s) @ homography @ s
        mapped = cv2.perspectiveTransform(self._zone.reshape(-1, 1, 2), h_full).reshape(-1, 2)
        overlap = _polygon_iou(self._zone, mapped, image.shape[1], image.shape[0])
        self.last_overlap = overlap
        dx, dy = (mapped - self._zone).mean(axis=0)
        self._moved_result(
            overlap >= self.cfg.moved_min_overlap,
            t,
            f"moved: the zone drawn at calibration now lies {dx:+.0f} px, {dy:+.0f} px away "
            f"(overlap {overlap:.0%}, needs {self.cfg.moved_min_overlap:.0%}): view moved, "
            "calibrate again",
            overlap,
        )

    def _moved_result(self, ok: bool, t: float, reason: str, overlap: float | None) -> None:
        if ok:
            if self._moved is not None:
                log.info("view matches the calibration reference again")
            self._moved_fails, self._moved = 0, None
            return
        self._moved_fails += 1
        if self._moved_fails >= self.cfg.moved_after_checks:
            since = self._moved.since if self._moved is not None else t
            self._moved = SceneFlag("moved", since, reason)


def _polygon_iou(a: np.ndarray, b: np.ndarray, width: int, height: int) -> float:
    """Intersection over union of two polygons, rasterised on a frame-sized canvas with a
    margin (a zone may reach past the image edge)."""
    pad = max(width, height)
    canvas = (height + 2 * pad, width + 2 * pad)
    ma, mb = np.zeros(canvas, np.uint8), np.zeros(canvas, np.uint8)
    off = np.array([pad, pad])
    cv2.fillPoly(ma, [np.round(np.clip(a + off, 0, 3 * pad)).astype(np.int32)], 1)
    cv2.fillPoly(mb, [np.round(np.clip(b + off, 0, 3 * pad)).astype(np.int32)], 1)
    union = int(np.count_nonzero(ma | mb))
    return int(np.count_nonzero(ma & mb)) / union if union else 0.0
