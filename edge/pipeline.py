"""One camera's pipeline, composed in one visible place.

    frame ─► motion gate ─► detector                          (detect: may run ahead)
          ─► signal reader (every frame: phase timing matters)  (judge)
          ─► tracker ─► crossing rule
          ─► violator only: face stage ─► evidence (anonymised) ─► Violation

:meth:`CameraPipeline.run` runs the first stage on its own thread a frame ahead of the
second (the detector's inference then overlaps the tracker and rule of the frame before).

A violation is confirmed ``debounce_s`` after the entry, then waits for its *after*
frame, the end of its clip window and, when a face stage is present, for the face
decision (enough good faces, or the track ended, or its time ran out).
:meth:`CameraPipeline.flush` finishes what is pending when the source ends.

A gap in frames (a reconnect, a stall, dropped frames: ``stream.gap_reset_s``) resets the
signal reader, the rule's per-track state and the tracker, so that no red start or
track side seen before the gap decides an entry after it (:meth:`CameraPipeline.process`).

The pipeline only *collects* evidence (frame references, per-frame box and signal
phase): anonymising and encoding stills and clip is edge/evidence_render.py's job, done
off the frame loop by the gateway. A face stage that fails is logged and ignored for
that violation (it goes out unidentified); it can never leave a face unblurred, since
blurring does not use it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from edge.ahead import ahead
from edge.capture import Frame
from edge.config import CameraConfig, ConfigError
from edge.detectors.base import Detections
from edge.detectors.detect_stream import DetectStreamDetector
from edge.detectors.failures import DetectorFailures
from edge.evidence import FrameBuffer, FrameFacts, RawEvidence
from edge.faces.decision import FaceDecision
from edge.frame_geometry import FrameGeometryGuard
from edge.model_files import ModelFileError
from edge.motion import MotionGate
from edge.rule.crossing import CrossingRule, Entry
from edge.signal.base import SignalReader, SignalReading, SignalState, SignalStatus
from edge.track.base import Tracker, Tracks
from edge.violation import Match, Violation

if TYPE_CHECKING:
    from edge.detectors.pool import DetectorPool

log = logging.getLogger(__name__)


_ZERO = np.zeros((1, 1, 1), np.uint8)


def _shape_only(width: int, height: int) -> np.ndarray:
    """A read-only zero image of the main frame's shape, no memory behind it: for a
    stage that only reads the shape (DetectStreamDetector with a detect image)."""
    return np.broadcast_to(_ZERO, (height, width, 3))


class FaceStage(Protocol):
    """What the pipeline needs from the face stage (edge/faces)."""

    def observe(
        self, track_id: int, frame_bgr: np.ndarray, person_xyxy: np.ndarray, t: float
    ) -> None: ...

    def ready(self, track_id: int, t: float) -> bool: ...

    def decide(self, track_id: int) -> FaceDecision: ...

    def anonymise(
        self, frame_bgr: np.ndarray, violator_xyxy: np.ndarray | None, keep_violator_face: bool
    ) -> tuple[np.ndarray, int]: ...


@dataclass(frozen=True, slots=True)
class Detected:
    """A frame with what the first stage found on it (:meth:`CameraPipeline.detect`)."""

    frame: Frame
    detections: Detections | None  # None: nothing moved, the detector did not run


@dataclass
class _Pending:
    entry: Entry
    shots: dict[str, FrameFacts] = field(default_factory=dict)
    clip: list[FrameFacts] = field(default_factory=list)
    track_ended: bool = False
    faces_failed: bool = False  # the face stage raised for this track: no identification


@dataclass
class PipelineStats:
    frames: int = 0
    detector_runs: int = 0
    violations: int = 0
    gap_resets: int = 0


class CameraPipeline:
    def __init__(
        self,
        cfg: CameraConfig,
        detector: DetectStreamDetector,
        tracker: Tracker,
        signal: SignalReader,
        faces: FaceStage | None = None,
    ) -> None:
        self.cfg = cfg
        self.detector = detector
        self.tracker = tracker
        self.signal = signal
        self.faces = faces
        # A lamp read from the image is proven steady (not one flash) only once it has
        # stayed lit this long: entries are judged that much later (edge/rule/crossing.py).
        roi_flash = cfg.signal.source == "roi" and cfg.signal.flash_detect
        settle = cfg.signal.flash_run_s[1] if roi_flash else 0.0
        self.rule = CrossingRule(cfg.crossing, settle_s=settle)
        rois = [cfg.signal.roi] if cfg.signal.roi is not None else []
        tiling = cfg.detector.tiling
        small = tiling.far_person_px if tiling.mode != "off" else None
        self._new_motion_gate = lambda: MotionGate(
            cfg.motion, exclude_rois=rois, min_person_px=small
        )
        self.motion = self._new_motion_gate()
        self._detect_size: tuple[int, int] | None = None
        self.buffer = FrameBuffer(
            keep_s=cfg.evidence.before_s + cfg.crossing.debounce_s + settle + 1.0
        )
        self.stats = PipelineStats()
        self.detector_failures = DetectorFailures(cfg.id)
        self._pending: dict[int, _Pending] = {}
        self._geometry = FrameGeometryGuard(cfg)
        self._last_frame: Frame | None = None
        self._reading: SignalReading | None = None
        self._no_phase_since: float | None = None
        self._motion_detect: MotionGate | None = None  # on the detect image, see detect()
        self._canvas: np.ndarray | None = None  # see _signal_image

    def process(self, frame: Frame) -> list[Violation]:
        """Analyse one frame; returns violations finished on it."""
        return self.judge(self.detect(frame))

    def run(self, frames: Iterable[Frame], detect_ahead: bool = True) -> Iterator[list[Violation]]:
        """:meth:`process` over ``frames``: per frame, the violations finished on it.

        With ``detect_ahead``, :meth:`detect` (motion gate and detector) runs on its own
        thread one frame ahead of :meth:`judge` (signal, tracker, rule, evidence): the
        inference releases the GIL, so the tracker and rule of one frame overlap the
        detector of the next instead of adding to it (bench/bench_pipeline_720p.py).
        The stages see the same frames in the same order, so the violations are the
        same. An error of ``frames`` or of :meth:`detect` is raised after the frames
        before it were judged. Not for a shared detector pool (the gateway's cameras
        already overlap one another).
        """
        detected: Iterator[Detected]
        if detect_ahead:
            detected = ahead(self._detect_all(iter(frames)), f"detect {self.cfg.id}", depth=1)
        else:
            detected = map(self.detect, frames)
        for d in detected:
            yield self.judge(d)

    def _detect_all(self, frames: Iterator[Frame]) -> Iterator[Detected]:
        try:
            for frame in frames:
                yield self.detect(frame)
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()

    def detect(self, frame: Frame) -> Detected:
        """First stage: geometry check, motion gate and detector. Depends only on the
        frames, in order (never on tracks or signal), so it may run ahead of :meth:`judge`."""
        # Zone and ROI must fit this frame size (FrameGeometryError, one line, otherwise).
        self._geometry.check_size(*frame.size)
        size = frame.size
        if self._detect_size is not None and size != self._detect_size:
            # A camera reconfigured to another resolution (seen after a reconnect): the
            # motion background, detector region and tile plan were made for the old
            # size; made again (the geometry guard above re-checked zone and ROI).
            log.warning(
                "camera %s: frame size changed from %dx%d to %dx%d: motion gate and "
                "detector region start over",
                self.cfg.id,
                *self._detect_size,
                *size,
            )
            self.motion = self._new_motion_gate()
            self.detector.reset()
        self._detect_size = size
        if frame.on_demand and frame.detect is not None:
            # Sub-stream mode: nothing here converts the main image (edge/av_capture.py).
            moved = self._detect_motion(frame).update(frame.detect, frame.t)
            main = _shape_only(*frame.size)
        else:
            moved = self.motion.update(frame.image, frame.t)
            main = frame.image
        if not moved:
            return Detected(frame, None)
        # On the detect stream's image when the frame has one; boxes in main pixels.
        try:
            detections = self.detector.detect(main, frame.detect)
        except ModelFileError:
            raise  # the model does not fit its layout: no later frame will either
        except Exception as e:
            # A model that raises on some inputs: skip this frame (as if nothing moved)
            # rather than restart the camera and lose its tracks; health says so.
            self.detector_failures.failure(e)
            return Detected(frame, None)
        self.detector_failures.success()
        self.stats.detector_runs += 1
        return Detected(frame, detections)

    def judge(self, detected: Detected) -> list[Violation]:
        """Second stage, on :meth:`detect`'s result for the frame: signal, tracker, rule
        and evidence; returns violations finished on the frame."""
        frame = detected.frame
        self.stats.frames += 1
        self._reset_after_gap(frame)
        self._last_frame = frame
        reading = self.signal.update(self._signal_image(frame), frame.t)
        self._note_reading(reading)
        if detected.detections is not None:
            tracks = self.tracker.update(detected.detections, frame.t)
        else:
            # Nothing moved: everyone is where they were; skip detector and tracker.
            tracks = Tracks.empty()
        boxes = {
            int(tid): tuple(map(float, box))
            for tid, box in zip(tracks.track_ids.tolist(), tracks.xyxy, strict=True)
        }
        self.buffer.add(frame, boxes, reading.state.value, reading.red_for())  # type: ignore[arg-type]
        for entry in self.rule.update(tracks, reading, frame.index):
            self._start(entry)
        for tid in tracks.removed_ids.tolist():
            if int(tid) in self._pending:
                self._pending[int(tid)].track_ended = True
        self._observe(frame, boxes, reading.state.value, reading.red_for())
        return self._finish_due(frame.t)

    def flush(self) -> list[Violation]:
        """Finish every pending violation with what was seen (end of video)."""
        for entry in self.rule.flush():
            self._start(entry)
        done = [self._complete(p) for p in self._pending.values()]
        self._pending.clear()
        return done

    def signal_status(self) -> SignalStatus:
        """Snapshot of this camera's signal reading (called from the health thread)."""
        reading, frame, no_phase = self._reading, self._last_frame, self._no_phase_since
        base = self.signal.status()
        if reading is None or frame is None:
            return replace(base, gap_resets=self.stats.gap_resets)
        last_change = None
        if reading.since is not None and frame.wall is not None:
            last_change = datetime.fromtimestamp(frame.wall - (frame.t - reading.since), UTC)
        return replace(
            base,
            phase=reading.state,
            at_t=reading.t,
            since_t=reading.since,
            last_change=last_change,
            unknown_for_s=0.0 if no_phase is None else max(0.0, reading.t - no_phase),
            gap_resets=self.stats.gap_resets,
        )

    # --- internals ------------------------------------------------------------------------

    def _detect_motion(self, frame: Frame) -> MotionGate:
        """The motion gate for the detect image: told the main size, it diffs a grey copy
        of the main image's size with the main image's mask (ROI, person height in main
        pixels: edge/motion.py), made from the detect image."""
        if self._motion_detect is None or self._motion_detect.main_size != frame.size:
            self._motion_detect = MotionGate(
                self.cfg.motion,
                exclude_rois=self.motion.exclude_rois,
                min_person_px=self.motion.min_person_px,
                main_size=frame.size,
            )
        return self._motion_detect

    def _signal_image(self, frame: Frame) -> np.ndarray:
        """What the signal reader is given. For a frame whose main image is not converted
        (sub-stream mode): a main-sized canvas, reused, holding only the ROI's pixels,
        converted from the main frame alone (the reader looks at nothing else; a
        controller-fed reader at nothing at all). The ROI pixels equal the converted
        image's, so the reading is the same as on the full frame."""
        if not frame.on_demand:
            return frame.image
        if self.cfg.signal.source != "roi":
            return _shape_only(*frame.size)
        if self.cfg.signal.roi is None:
            return frame.image  # the reader refuses it, as before
        w, h = frame.size
        if self._canvas is None or self._canvas.shape[:2] != (h, w):
            self._canvas = np.zeros((h, w, 3), np.uint8)
        x, y, rw, rh = self.cfg.signal.roi
        self._canvas[y : y + rh, x : x + rw] = frame.crop(x, y, rw, rh)
        return self._canvas

    def _reset_after_gap(self, frame: Frame) -> None:
        """Reset what a gap invalidates: the signal history (a red start seen before it
        would time an entry after it), each track's side and the tracks themselves (new
        ids after the gap, so no evidence frame from before it shows a new track).
        Violations already confirmed finish with what was seen."""
        prev = self._last_frame
        if prev is None:
            return
        gap = frame.t - prev.t
        reconnect = frame.segment != prev.segment
        resized = frame.size != prev.size  # tracks are in the old size's pixels
        if not reconnect and not resized and gap <= self.cfg.stream.gap_reset_s:
            return
        self.stats.gap_resets += 1
        log.warning(
            "camera %s: %s (%.1f s without frames): signal history, rule and tracks reset",
            self.cfg.id,
            "stream reconnected"
            if reconnect
            else "frame size changed"
            if resized
            else "gap in frames",
            gap,
        )
        self.signal.reset()
        self.rule.reset()
        reset_tracker = getattr(self.tracker, "reset", None)
        if reset_tracker is not None:
            reset_tracker()
        for p in self._pending.values():
            p.track_ended = True
        self._reading = None
        self._no_phase_since = None

    def _note_reading(self, reading: SignalReading) -> None:
        no_phase = reading.state in (SignalState.UNKNOWN, SignalState.DARK)
        if not no_phase:
            self._no_phase_since = None
        elif self._no_phase_since is None:
            self._no_phase_since = reading.t
        self._reading = reading

    def _start(self, entry: Entry) -> None:
        p = _Pending(entry)
        tid = entry.track_id
        at = self.buffer.by_index(entry.frame)
        if at is not None:
            p.shots["entry"] = FrameFacts(at.frame, entry.bbox, at.phase, at.red_for_s)
        before = self.buffer.before(entry.t - self.cfg.evidence.before_s, tid)
        if before is not None and before.frame.index != entry.frame:
            p.shots["before"] = FrameFacts.of(before, tid)
        if self.cfg.evidence.clip:
            p.clip = [
                FrameFacts.of(bf, tid)
                for bf in self.buffer.since(entry.t - self.cfg.evidence.before_s)
            ]
        self._pending[tid] = p
        if at is not None:
            # Only now, for the flagged track, may its face be looked at.
            self._face_observe(p, at.frame, entry.bbox, entry.t)
        log.info(
            "camera %s: track %d entered on red (%.1f s)",
            self.cfg.id,
            entry.track_id,
            entry.red_for_s,
        )

    def _observe(
        self,
        frame: Frame,
        boxes: dict[int, tuple[float, float, float, float]],
        phase: str,
        red_for_s: float | None,
    ) -> None:
        after_s = self.cfg.evidence.after_s
        for tid, p in self._pending.items():
            box = boxes.get(tid)
            if (
                self.cfg.evidence.clip
                and frame.t <= p.entry.t + after_s + 1e-9
                and (not p.clip or frame.index > p.clip[-1].frame.index)
            ):
                p.clip.append(FrameFacts(frame, box, phase, red_for_s))
            if box is None:
                continue
            if "after" not in p.shots and frame.t >= p.entry.t + after_s:
                p.shots["after"] = FrameFacts(frame, box, phase, red_for_s)
            if frame.index != p.entry.frame:
                self._face_observe(p, frame, box, frame.t)

    def _face_observe(
        self, p: _Pending, frame: Frame, box: tuple[float, float, float, float], t: float
    ) -> None:
        if self.faces is None or p.faces_failed:
            return  # (before frame.image: a frame converted on demand stays unconverted)
        try:
            self.faces.observe(p.entry.track_id, frame.image, np.asarray(box), t)
        except Exception:  # identification is optional; blurring never depends on it
            log.exception("camera %s: face stage failed; track %d stays unidentified",
                          self.cfg.id, p.entry.track_id)  # fmt: skip
            p.faces_failed = True

    def _faces_ready(self, tid: int, p: _Pending, t: float) -> bool:
        if self.faces is None or p.faces_failed or p.track_ended:
            return True
        try:
            return bool(self.faces.ready(tid, t))
        except Exception:
            log.exception("camera %s: face stage failed (ready)", self.cfg.id)
            p.faces_failed = True
            return True

    def _finish_due(self, t: float) -> list[Violation]:
        due = []
        for tid, p in self._pending.items():
            after_s = self.cfg.evidence.after_s
            after_done = (
                "after" in p.shots or p.track_ended or t >= p.entry.t + 3 * max(after_s, 1.0)
            )
            clip_done = not self.cfg.evidence.clip or t >= p.entry.t + after_s
            if after_done and clip_done and self._faces_ready(tid, p, t):
                due.append(tid)
        return [self._complete(self._pending.pop(tid)) for tid in due]

    def _complete(self, p: _Pending) -> Violation:
        match: Match | None = None
        faces_used = 0
        decision: FaceDecision | None = None
        if self.faces is not None:
            try:
                decision = self.faces.decide(p.entry.track_id)
            except Exception:
                log.exception("camera %s: face stage failed (decide)", self.cfg.id)
                decision = None
            if p.faces_failed:
                decision = None  # a stage that failed mid-track decides nothing
            if decision is not None:
                faces_used = decision.faces_used
                m = decision.match
                if m is not None:
                    match = Match(
                        person_id=m.person_id,
                        score=float(m.score),
                        backend=m.backend,
                        threshold=m.threshold,
                        gallery_version=str(m.gallery_version),
                        alternatives=m.alternatives,
                    )
        face_jpeg = decision.face_jpeg if decision is not None and match is not None else None
        stills = {r: p.shots[r] for r in ("before", "entry", "after") if r in p.shots}
        self.stats.violations += 1
        raw = RawEvidence(stills, p.clip, face_jpeg or None)
        return Violation(self.cfg.id, p.entry, [], match, faces_used, raw=raw)


def make_face_stage(cfg: CameraConfig, gallery: Path | None) -> FaceStage | None:
    """The violator face stage the camera config asks for (None: faces disabled).

    Always built when faces are enabled, gallery or not: evidence images get every
    face blurred (an unidentified violator's too); with a gallery it also matches.
    Raises ConfigError for a gallery given to a camera with faces disabled,
    GalleryError for a gallery file that cannot be used.
    """
    if not cfg.faces.enabled:
        if gallery is not None:
            raise ConfigError(f"--gallery given but faces.enabled is false for camera {cfg.id}")
        return None
    from edge.faces.stage import ViolatorFaces
    from edge.gallery.store import Gallery

    return ViolatorFaces(cfg.faces, Gallery.load(gallery) if gallery is not None else None)


def build_pipeline(
    cfg: CameraConfig,
    faces: FaceStage | Literal["config"] | None = None,
    signal: SignalReader | None = None,
    detector_pool: DetectorPool | None = None,
    *,
    gallery: Path | None = None,
) -> CameraPipeline:
    """Create every stage from the camera config (the one place plugins are chosen).

    ``faces="config"`` builds the face stage the config asks for (:func:`make_face_stage`,
    matching against ``gallery`` when given); a stage object is used as it is (the
    gateway's per-camera stages, test doubles); None runs without one.

    ``signal`` replaces the reader the config asks for (the gateway passes the
    controller-fed reader its live feed pushes into). ``detector_pool`` is the gateway's
    shared detector (edge/detectors/pool.py): the camera's region and tiling wrap it, the
    inference runs on the pool's workers, batched with other cameras'."""
    from edge.detectors import create_detector
    from edge.detectors.region import wrap_for_region
    from edge.signal import create_signal_reader
    from edge.track import create_tracker

    model = (
        detector_pool.detector_for(cfg.detector, cfg.id)
        if detector_pool is not None
        else create_detector(cfg.detector)
    )
    detector = DetectStreamDetector(model, cfg.detector, cfg.crossing.zone, wrap_for_region)
    return CameraPipeline(
        cfg,
        detector=detector,
        tracker=create_tracker(cfg.tracker),
        signal=signal if signal is not None else create_signal_reader(cfg.signal),
        faces=make_face_stage(cfg, gallery) if faces == "config" else faces,
    )
