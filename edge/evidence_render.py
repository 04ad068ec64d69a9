"""Render a violation's collected evidence: anonymised stills with a data bar, the clip.

The pipeline (edge/pipeline.py) only collects frame references, boxes and signal
phases; everything heavy happens here — face detection and blurring on every still and
clip frame, JPEG and VP8 encoding — so the gateway runs it on a thread of its own, off
the frame loop (edge/gateway.py, ``EvidenceWorker``).

Anonymisation never depends on identification: faces are found by a detector of their
own (``FaceBlurrer``), whether the camera's face stage is enabled, disabled or broken;
a matched violator's face is the only one kept. If face detection itself fails, the
whole image is pixelated rather than sent with a face in it.

The data bar is burned in *below* the scene (the image grows by ``bar_px`` rows), so it
never covers the feet or the kerb: camera, place, local time (and UTC), frame, signal
phase, time since red, grace — what red-light programmes print on every still.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from edge.clip import ClipError, encode_webm
from edge.config import CameraConfig
from edge.evidence import EvidenceClipData, EvidenceShot, FrameFacts, encode_jpeg
from edge.faces.anonymise import FaceBlurrer, blur_everything
from edge.violation import Violation

log = logging.getLogger(__name__)

FONT = cv2.FONT_HERSHEY_SIMPLEX
BAR_BG = (24, 24, 24)
PHASE_COLOURS = {"red": (60, 60, 255), "green": (90, 220, 90)}  # BGR


def ascii_text(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only: fold accents, drop the rest."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c if " " <= c <= "~" else "?" for c in folded)


def _even(n: int) -> int:
    return n + (n % 2)


def bar_lines(cfg: CameraConfig, f: FrameFacts, role: str, utc: datetime) -> tuple[list[str], str]:
    """The data bar's text lines and the phase word (drawn in the phase's colour)."""
    local = utc.astimezone(ZoneInfo(cfg.timezone))
    ms = f"{local.microsecond // 1000:03d}"
    red = "-" if f.red_for_s is None else f"{f.red_for_s:.1f} s"
    utc_too = f"  (UTC {utc:%H:%M:%S}.{ms})" if local.utcoffset() else ""
    lines = [
        f"CAM {cfg.id}" + (f"  |  {cfg.place}" if cfg.place else ""),
        f"{local:%Y-%m-%d %H:%M:%S}.{ms} {local.tzname()}{utc_too}  |  "
        f"frame {f.frame.index}  |  {role.upper()}",
        f"SIGNAL {f.phase.upper()}  |  red for {red}  |  grace {cfg.crossing.grace_s:g} s",
    ]
    return [ascii_text(s) for s in lines], f.phase


def with_data_bar(image: np.ndarray, lines: list[str], phase: str) -> tuple[np.ndarray, int]:
    """The image with a bar of ``lines`` appended below it; and the bar's height."""
    h, w = image.shape[:2]
    scale = max(0.35, min(1.2, w / 1400))
    thick = 1 if scale < 0.7 else 2
    line_h = round(30 * scale) + 4
    bar_px = _even(line_h * len(lines) + 8)
    out = np.empty((h + bar_px, w, 3), np.uint8)
    out[:h] = image
    out[h:] = BAR_BG
    colour = PHASE_COLOURS.get(phase, (230, 230, 230))
    for i, text in enumerate(lines):
        y = h + 4 + line_h * (i + 1) - 6
        cv2.putText(out, text, (8, y), FONT, scale, (240, 240, 240), thick, cv2.LINE_AA)
    # A phase lamp at the right end of the signal line, so the phase reads at a glance.
    r = max(4, line_h // 3)
    cv2.circle(out, (w - 2 * r - 6, h + 4 + line_h * len(lines) - line_h // 2 - 2), r, colour, -1)
    return out, bar_px


class EvidenceRenderer:
    """Turns a pipeline ``Violation`` (with ``raw``) into one with stills and a clip."""

    def __init__(self, cfg: CameraConfig, blurrer: FaceBlurrer | None = None) -> None:
        self.cfg = cfg
        # Built whatever faces.enabled says: identification may be off, blurring never.
        self.blurrer = blurrer or FaceBlurrer.from_config(cfg.faces)

    def _anonymise(self, f: FrameFacts, keep_violator_face: bool) -> tuple[np.ndarray, int]:
        try:
            box = None if f.box is None else np.asarray(f.box)
            return self.blurrer.anonymise(f.frame.image, box, keep_violator_face)
        except Exception:  # a face may never go out unblurred because detection broke
            log.exception(
                "camera %s: face detection for blurring failed on frame %d; pixelating it all",
                self.cfg.id,
                f.frame.index,
            )
            return blur_everything(f.frame.image), 0

    def render(self, v: Violation, wall_of: Callable[[float], datetime]) -> Violation:
        """``wall_of(t)``: the UTC wall-clock time of stream time ``t``."""
        raw = v.raw
        if raw is None:
            return v
        ev = self.cfg.evidence
        keep = v.match is not None
        shots = []
        for role, f in raw.stills.items():
            image, blurred = self._anonymise(f, keep)
            bar_px = 0
            if ev.data_bar:
                lines, phase = bar_lines(self.cfg, f, role, wall_of(f.frame.t))
                image, bar_px = with_data_bar(image, lines, phase)
            shots.append(
                EvidenceShot(
                    role,
                    f.frame.index,
                    f.frame.t,
                    encode_jpeg(image, ev.jpeg_quality),
                    blurred,
                    facts=f,
                    bar_px=bar_px,
                )
            )
        if raw.face_jpeg and keep:
            # The matched violator's face crop, for the reviewer to compare with the gallery.
            shots.append(EvidenceShot("face", v.entry.frame, v.entry.t, raw.face_jpeg, 0))
        clip = self.render_clip(raw.clip, keep, wall_of) if ev.clip and raw.clip else None
        return dataclasses.replace(v, evidence=shots, clip=clip, raw=None)

    def render_clip(
        self, frames: list[FrameFacts], keep: bool, wall_of: Callable[[float], datetime]
    ) -> EvidenceClipData | None:
        """The clip, or None (logged) when it cannot be made within the budget: the
        violation still goes out with its stills."""
        started = time.perf_counter()
        images, blurred = [], 0
        for f in frames:
            image, n = self._anonymise(f, keep)
            blurred += n
            if self.cfg.evidence.data_bar:
                lines, phase = bar_lines(self.cfg, f, "clip", wall_of(f.frame.t))
                image, _ = with_data_bar(image, lines, phase)
            h, w = image.shape[:2]
            if h % 2 or w % 2:  # yuv420p wants even sizes: repeat the last row/column
                image = cv2.copyMakeBorder(image, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
            images.append(image)
        fps = self._fps(frames)
        blurred_at = time.perf_counter()
        try:
            webm = encode_webm(
                images, [f.frame.t for f in frames], fps, self.cfg.evidence.clip_max_bytes
            )
        except ClipError as e:
            log.error("camera %s: %s; the violation goes without a clip", self.cfg.id, e)
            return None
        h, w = images[0].shape[:2]
        return EvidenceClipData(
            webm, "vp8", fps, frames[0], frames[-1], len(frames), w, h, blurred,
            blurred_at - started, time.perf_counter() - blurred_at,
        )  # fmt: skip

    def _fps(self, frames: list[FrameFacts]) -> float:
        if self.cfg.fps is not None:
            return float(self.cfg.fps)
        span = frames[-1].frame.t - frames[0].frame.t
        return (len(frames) - 1) / span if len(frames) > 1 and span > 0 else 10.0


def wall_clock(started_wall: datetime) -> Callable[[float], datetime]:
    """``wall_of`` for a source that started at ``started_wall`` (stream time 0)."""
    return lambda t: started_wall + timedelta(seconds=t)
