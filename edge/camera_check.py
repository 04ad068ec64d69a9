"""``jaywatch edge check``: what an installer runs before leaving a camera.

Grabs frames from the camera's source (or another one), checks that ``crossing.zone``
and ``signal.roi`` fit the frames, runs the detector and the signal reader for a few
seconds and reports what it saw: the phase sequence with times, how many pedestrians
were detected, and an overlay PNG (zone, ROI, every detection box and foot point) to
look at. Problems are one line each and exit 2; never a traceback.

A camera with a ``detect_stream`` is read as ``edge run`` reads it (edge/av_capture.py):
the report names the detect stream, its frame size and, for a sub stream, how many main
frames found a sub frame within ``max_skew_s`` (the others would be detected on the main
image); the detector runs on the detect image and its boxes, mapped back, are drawn on the
main frame — the zone and ROI are always in main-stream pixels.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.capture import CaptureError, Frame, LiveSource, VideoFileSource, is_live_source
from edge.config import CameraConfig
from edge.frame_geometry import geometry_problems

ZONE_BGR = (0, 215, 255)  # amber
ROI_BGR = (255, 0, 255)  # magenta
DET_BGR = (255, 200, 0)  # cyan-ish


class CheckError(Exception):
    """One line for the installer; exit status 2."""


@dataclass
class PhaseChange:
    t: float  # seconds from the first frame: when the phase began (or was confirmed)
    phase: str
    start_seen: bool  # False: the phase was already showing (its start not observed)

    def to_json(self) -> dict:
        return {"t": round(self.t, 3), "phase": self.phase, "start_seen": self.start_seen}


@dataclass
class DetectStreamReport:
    """What the detector sees instead of the main frame (``detect_stream``)."""

    mode: str  # "sub_stream" | "decoder_downscale"
    source: str | None  # the sub stream; None for the decoder downscale
    width: int = 0
    height: int = 0
    frames: int = 0  # main frames read
    paired: int = 0  # ... that had a detect image (always all, for the downscale)
    max_skew_s: float = 0.05

    def to_json(self) -> dict:
        return {
            "mode": self.mode,
            "source": self.source,
            "frame_size": [self.width, self.height],
            "frames": self.frames,
            "frames_paired": self.paired,
            "max_skew_s": self.max_skew_s,
        }

    def line(self) -> str:
        size = f"{self.width}×{self.height}" if self.width else "no"
        if self.mode == "decoder_downscale":
            return f"detect stream: decoder downscale, {size} frames (zone in main pixels)"
        return (
            f"detect stream: {self.source}, {size} frames; {self.paired} of {self.frames} "
            f"main frames paired within {self.max_skew_s:g} s (zone in main pixels)"
        )

    def warnings(self, main_w: int, main_h: int) -> list[str]:
        out = []
        if self.mode == "sub_stream" and self.frames and self.paired < self.frames:
            out.append(
                f"detect_stream: only {self.paired} of {self.frames} main frames had a sub "
                f"frame within max_skew_s {self.max_skew_s:g} s; the others were detected on "
                "the main image (sub stream late, slower or not the same camera?)"
            )
        if (
            self.width
            and main_w
            and abs(self.width / self.height - main_w / main_h) > 0.02 * (main_w / main_h)
        ):
            out.append(
                f"detect_stream: {self.width}×{self.height} has another aspect than the main "
                f"{main_w}×{main_h}; boxes are mapped by scaling each axis, so the sub stream "
                "must show the whole main picture (check the overlay: boxes on the people)"
            )
        return out


@dataclass
class CheckReport:
    camera_id: str
    source: str
    width: int = 0
    height: int = 0
    frames: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    signal_source: str = "roi"
    phases: list[PhaseChange] = field(default_factory=list)
    detections: int = 0
    frames_with_people: int = 0
    warnings: list[str] = field(default_factory=list)
    scene: list[str] = field(default_factory=list)  # failed health checks, with reasons
    overlay: str | None = None
    detect_stream: DetectStreamReport | None = None

    def to_json(self) -> dict:
        return {
            "camera_id": self.camera_id,
            "source": self.source,
            "frame_size": [self.width, self.height],
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "problems": self.problems,
            "signal_source": self.signal_source,
            "phases": [p.to_json() for p in self.phases],
            "detections": self.detections,
            "frames_with_people": self.frames_with_people,
            "warnings": self.warnings,
            "scene": self.scene,
            "overlay": self.overlay,
            "detect_stream": None if self.detect_stream is None else self.detect_stream.to_json(),
        }

    def lines(self) -> list[str]:
        out = [f"camera {self.camera_id}: {self.source}, {self.width}×{self.height} frames"]
        if self.detect_stream is not None:
            out.append(self.detect_stream.line())
        out += [f"PROBLEM {p}" for p in self.problems]
        if not self.problems:
            out.append("crossing.zone and signal.roi lie inside the frame")
            out.append(
                f"read {self.frames} frames over {self.seconds:.1f} s: {self.detections} "
                f"pedestrian detections on {self.frames_with_people} frames"
            )
            if self.signal_source == "roi":
                out.append("signal phases (seconds from the first frame):")
                for p in self.phases:
                    seen = p.start_seen or p.phase == "unknown"
                    note = "" if seen else "  (already showing; start not seen)"
                    out.append(f"  {p.t:8.2f}  {p.phase}{note}")
            else:
                out.append("signal.source is 'controller': the phase is not read from the image")
        out += [f"WARNING {w}" for w in self.warnings]
        out += [f"HEALTH {s}" for s in self.scene]
        if self.overlay:
            out.append(f"overlay: {self.overlay}")
        return out


def resolve_source(cfg: CameraConfig, camera_yaml: Path, given: str | None) -> str | int:
    """``--source`` wins, else the camera's ``source``; a relative file path that does not
    exist from the working directory is tried next to the camera YAML."""
    src: str | int | None = given if given is not None else cfg.source
    if src is None:
        raise CheckError(f"{camera_yaml}: source: not set; give one with --source URL|FILE")
    if is_live_source(src):
        return src
    p = Path(str(src)).expanduser()
    if not p.is_absolute() and not p.exists() and (camera_yaml.parent / p).exists():
        p = camera_yaml.parent / p
    if not p.is_file():
        raise CheckError(f"{p}: video file not found")
    return str(p)


def _live_frames(
    src: str | int, fps: float | None, first_timeout_s: float, live=None
) -> Iterator[Frame]:
    """A live source read in a thread, so a camera that never answers is an error after
    ``first_timeout_s`` instead of a hang (LiveSource and AvSource retry for ever)."""
    live = live if live is not None else LiveSource(src, fps)
    q: queue.Queue[Frame] = queue.Queue(maxsize=4)

    def pump() -> None:
        for f in live:
            while not live._stopped:
                try:
                    q.put(f, timeout=0.2)
                    break
                except queue.Full:
                    continue

    threading.Thread(target=pump, name="check-source", daemon=True).start()
    try:
        timeout = first_timeout_s
        while True:
            try:
                f = q.get(timeout=timeout)
            except queue.Empty:
                if timeout == first_timeout_s:
                    raise CheckError(
                        f"{src}: no frame within {first_timeout_s:g} s (camera unreachable, "
                        "wrong URL or credentials?)"
                    ) from None
                raise CheckError(f"{src}: stream stopped delivering frames") from None
            timeout = max(first_timeout_s, 5.0)
            yield f
    finally:
        live.stop()


def frames_of(
    src: str | int,
    fps: float | None,
    first_timeout_s: float = 15.0,
    cfg: CameraConfig | None = None,
) -> Iterator[Frame]:
    """The source's frames; with ``cfg`` and its ``detect_stream`` (or ``stream.hwaccel``),
    read as the gateway reads them (edge/av_capture.py: frames carry their detect image)."""
    if cfg is not None and (cfg.detect_stream is not None or cfg.stream.hwaccel != "off"):
        from edge.av_capture import camera_source

        try:
            source = camera_source(cfg, src, analysis_fps=fps)
        except CaptureError as e:
            raise CheckError(str(e)) from None
        if is_live_source(src):
            return _live_frames(src, fps, first_timeout_s, live=source)
        return iter(source)
    if is_live_source(src):
        return _live_frames(src, fps, first_timeout_s)
    try:
        return iter(VideoFileSource(Path(str(src)), fps))
    except CaptureError as e:
        raise CheckError(str(e)) from None


def resolve_detect_source(cfg: CameraConfig, camera_yaml: Path) -> CameraConfig:
    """``cfg`` with a relative ``detect_stream.source`` file found next to the camera YAML,
    as :func:`resolve_source` does for the main one."""
    ds = cfg.detect_stream
    if ds is None or ds.source is None or is_live_source(ds.source):
        return cfg
    p = Path(ds.source).expanduser()
    if not p.is_absolute() and not p.exists() and (camera_yaml.parent / p).exists():
        p = camera_yaml.parent / p
    if not p.is_file():
        raise CheckError(f"{p}: detect_stream.source: video file not found")
    return cfg.model_copy(update={"detect_stream": ds.model_copy(update={"source": str(p)})})


def draw_overlay(
    image: np.ndarray,
    cfg: CameraConfig,
    boxes: list[tuple[float, float, float, float]],
    phase: str | None,
    feet: list[tuple[float, float]] = (),  # type: ignore[assignment]
) -> np.ndarray:
    """Zone (filled, translucent), ROI, the last frame's detection boxes and every foot
    point seen (the trail shows where people walk relative to the zone) on a copy."""
    out = image.copy()
    h, w = out.shape[:2]
    pts = np.round(np.asarray(cfg.crossing.zone)).astype(np.int32)
    big = 4 * max(w, h)
    pts = np.clip(pts, -big, big)
    fill = out.copy()
    cv2.fillPoly(fill, [pts], ZONE_BGR)
    out = cv2.addWeighted(fill, 0.25, out, 0.75, 0)
    cv2.polylines(out, [pts], True, ZONE_BGR, 2, cv2.LINE_AA)
    lx, ly = int(np.clip(pts[:, 0].min(), 0, w - 120)), int(np.clip(pts[:, 1].min(), 14, h - 4))
    _label(out, "crossing.zone", (lx, ly + 14), ZONE_BGR)
    for fx, fy in feet:
        cv2.circle(out, (int(fx), int(fy)), 2, DET_BGR, -1)
    for x1, y1, x2, y2 in boxes:
        cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), DET_BGR, 2)
    if cfg.signal.roi is not None:
        x, y, rw, rh = cfg.signal.roi
        cv2.rectangle(out, (x, y), (x + rw, y + rh), ROI_BGR, 2)
        text = "signal.roi" + (f": {phase}" if phase else "")
        _label(out, text, (min(x, max(0, w - 150)), min(y + rh + 16, h - 4)), ROI_BGR)
    return out


def _label(img: np.ndarray, text: str, org: tuple[int, int], colour: tuple[int, int, int]) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)


def _scene_monitor(cfg: CameraConfig, seconds: float):  # -> SceneMonitor | None
    """The gateway's scene checks, scaled to a check of ``seconds``: a picture dark for
    half the run is reported, and one look at the reference frame decides "moved"."""
    from edge.scene_health import SceneMonitor, load_reference

    h = cfg.health
    if not h.enabled:
        return None
    h = h.model_copy(
        update={
            "dark_after_s": min(h.dark_after_s, seconds / 2),
            "frozen_after_s": min(h.frozen_after_s, seconds / 2),
            "moved_after_checks": 1,
        }
    )
    ref = None
    if h.reference is not None:
        try:
            ref = load_reference(h.reference)
        except ValueError as e:
            raise CheckError(f"health.reference: {e}") from None
    return SceneMonitor(h, [tuple(p) for p in cfg.crossing.zone], ref)


def run_check(
    cfg: CameraConfig,
    camera_yaml: Path,
    source: str | None = None,
    seconds: float = 5.0,
    out: Path | None = None,
    first_timeout_s: float = 15.0,
) -> CheckReport:
    """Read ``seconds`` of the source and report; raises :class:`CheckError` for a source
    that gives nothing. Geometry problems go into ``report.problems`` (with an overlay
    still drawn, so the installer sees where the zone and ROI are)."""
    from edge.model_files import ModelFileError
    from edge.pipeline import build_pipeline

    src = resolve_source(cfg, camera_yaml, source)
    cfg = resolve_detect_source(cfg, camera_yaml)
    report = CheckReport(cfg.id, str(src), signal_source=cfg.signal.source)
    ds = cfg.detect_stream
    if ds is not None:
        mode = "sub_stream" if ds.source is not None else "decoder_downscale"
        report.detect_stream = DetectStreamReport(mode, ds.source, max_skew_s=ds.max_skew_s)
    frames = frames_of(src, cfg.fps, first_timeout_s, cfg)
    try:
        first = next(frames, None)
    except CaptureError as e:
        raise CheckError(str(e)) from None
    if first is None:
        raise CheckError(f"{src}: no frame could be read")
    report.height, report.width = first.image.shape[:2]
    report.problems = geometry_problems(cfg, report.width, report.height, strict=True)
    boxes: list[tuple[float, float, float, float]] = []
    feet: list[tuple[float, float]] = []
    last_image, phase = first.image, None
    if not report.problems:
        try:
            pipeline = build_pipeline(cfg)
        except ModelFileError as e:
            raise CheckError(str(e)) from None
        t0 = first.t
        started = time.monotonic()
        failed, failure = 0, ""
        scene = _scene_monitor(cfg, seconds)

        def remaining() -> Iterator[Frame]:
            yield first
            try:
                yield from frames
            except CaptureError as e:  # a damaged file: report what was read
                report.warnings.append(str(e))

        for f in remaining():
            if f.t - t0 > seconds or time.monotonic() - started > seconds + 30:
                break
            report.frames += 1
            report.seconds = f.t - t0
            last_image = f.image
            if scene is not None:
                scene.observe(f.image, f.t - t0)
            if report.detect_stream is not None:
                report.detect_stream.frames += 1
                if f.detect is not None:
                    report.detect_stream.paired += 1
                    report.detect_stream.height, report.detect_stream.width = f.detect.shape[:2]
            # On the detect image when the frame has one; boxes in main pixels.
            try:
                dets = pipeline.detector.detect(f.image, f.detect)
            except ModelFileError as e:
                raise CheckError(str(e)) from None
            except Exception as e:  # a model that raises on some frames: report, go on
                failed += 1
                failure = f"{type(e).__name__}: {e}".splitlines()[0][:300]
                continue
            n = len(dets.xyxy)
            report.detections += n
            report.frames_with_people += int(n > 0)
            boxes = [tuple(map(float, b)) for b in dets.xyxy]
            feet += [((b[0] + b[2]) / 2, b[3]) for b in boxes]
            if cfg.signal.source == "roi":
                r = pipeline.signal.update(f.image, f.t)
                phase = str(r.state)
                if not report.phases or report.phases[-1].phase != phase:
                    began = r.since if r.since is not None else r.t
                    report.phases.append(PhaseChange(began - t0, phase, r.since is not None))
        if failed:
            report.problems.append(
                f"detector.model: inference failed on {failed} of {report.frames} frames "
                f"({failure})"
            )
        if cfg.signal.source == "roi" and all(
            p.phase in ("unknown", "dark") for p in report.phases
        ):
            seen = "/".join(sorted({p.phase for p in report.phases}))
            report.warnings.append(
                f"signal.roi: read only {seen} for {report.seconds:.1f} s; "
                "is the ROI on the pedestrian signal head?"
            )
        if report.detect_stream is not None:
            report.warnings += report.detect_stream.warnings(report.width, report.height)
        if scene is not None:
            report.scene = [fl.reason for fl in scene.flags()]
        if report.detections == 0:
            report.warnings.append(
                f"no pedestrian detected in {report.seconds:.1f} s (fine if nobody passed)"
            )
    frames.close() if hasattr(frames, "close") else None
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(out), draw_overlay(last_image, cfg, boxes, phase, feet)):
            raise CheckError(f"{out}: could not write the overlay PNG")
        report.overlay = str(out)
    return report
