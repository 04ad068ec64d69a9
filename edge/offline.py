"""The offline run behind ``jaywatch edge process``: a video file in, violations out."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from edge.capture import CaptureError
from edge.config import CameraConfig, ConfigError, load_camera_config
from edge.evidence_render import EvidenceRenderer, wall_clock
from edge.frame_geometry import FrameGeometryError
from edge.gallery.store import GalleryError
from edge.model_files import ModelFileError
from edge.pipeline import CameraPipeline, build_pipeline
from edge.violation import Violation

log = logging.getLogger(__name__)


class OfflineRunError(Exception):
    """One line for the user; ``exit_code`` 2 for bad input, 3 for a damaged video."""

    def __init__(self, msg: str, exit_code: int = 2) -> None:
        super().__init__(msg)
        self.exit_code = exit_code


def _feed_controller(
    pipeline: CameraPipeline, cfg: CameraConfig, camera: Path, phases: Path | None
) -> None:
    """Offline, a controller-fed camera reads its phases from a recorded log."""
    if cfg.signal.source != "controller":
        if phases is not None:
            raise OfflineRunError(f"--phases given but {camera}: signal.source is 'roi'")
        return
    if phases is None:
        raise OfflineRunError(
            f"{camera}: signal.source is 'controller': give the phase log with --phases FILE"
        )
    from edge.signal.controller import PhaseFeedError, load_phase_feed

    try:
        pipeline.signal.extend(load_phase_feed(phases))  # type: ignore[attr-defined]
    except PhaseFeedError as e:
        raise OfflineRunError(str(e)) from None


def write_evidence(out_dir: Path, v: Violation) -> list[str]:
    names = []
    for shot in v.evidence:
        name = f"{v.camera_id}_f{v.entry.frame:06d}_t{v.entry.track_id}_{shot.role}.jpg"
        (out_dir / name).write_bytes(shot.jpeg)
        names.append(name)
    if v.clip is not None:
        name = f"{v.camera_id}_f{v.entry.frame:06d}_t{v.entry.track_id}_clip.webm"
        (out_dir / name).write_bytes(v.clip.webm)
        names.append(name)
    return names


def format_human(v: Violation) -> str:
    m = "unidentified" if v.match is None else f"{v.match.person_id} ({v.match.score:.2f})"
    return (
        f"{v.entry.t:8.2f}s frame {v.entry.frame:6d}  track {v.entry.track_id:4d}  "
        f"red for {v.entry.red_for_s:5.2f}s  {m}"
    )


def process_video(
    video: Path,
    camera: Path,
    gallery: Path | None = None,
    out_dir: Path | None = None,
    as_json: bool = True,
    fps: float | None = None,
    phases: Path | None = None,
) -> int:
    """Run one camera's pipeline over a file; print violations as they finish."""
    try:
        cfg = load_camera_config(camera)
        if gallery is not None and not gallery.exists():
            raise OfflineRunError(f"{gallery}: gallery file not found")
        from edge.av_capture import camera_source

        source = camera_source(cfg, video, analysis_fps=fps)
        pipeline: CameraPipeline = build_pipeline(cfg, "config", gallery=gallery)
        renderer = EvidenceRenderer(cfg)
        _feed_controller(pipeline, cfg, camera, phases)
    except CaptureError as e:
        raise OfflineRunError(str(e)) from None
    except (ConfigError, ModelFileError, GalleryError) as e:
        raise OfflineRunError(str(e)) from None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    jsonl = (out_dir / "violations.jsonl").open("w") if out_dir is not None else None

    wall_of = wall_clock(datetime.now(UTC))

    def emit(v: Violation) -> None:
        v = renderer.render(v, wall_of)  # offline: inline, nobody waits on the frame loop
        record = v.to_json()
        if out_dir is not None:
            record["evidence_files"] = write_evidence(out_dir, v)
            jsonl.write(json.dumps(record) + "\n")  # type: ignore[union-attr]
        print(json.dumps(record) if as_json else format_human(v), flush=True)

    bar = tqdm(
        total=source.expected_frames() or None,
        unit="frame",
        desc=video.name,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
    )
    try:
        try:
            # Motion gate and detector run a frame ahead of tracker and rule (same result).
            for finished in pipeline.run(source):
                for v in finished:
                    emit(v)
                bar.update(1)
        except CaptureError as e:
            for v in pipeline.flush():
                emit(v)
            raise OfflineRunError(str(e), exit_code=3) from None
        except FrameGeometryError as e:  # the zone/ROI does not fit this video's frames
            for v in pipeline.flush():  # a size change mid-file: what was seen still counts
                emit(v)
            raise OfflineRunError(f"{camera}: {e}") from None
        for v in pipeline.flush():
            emit(v)
        failures = pipeline.detector_failures
        if failures.failed:  # those frames were skipped: the result is incomplete
            raise OfflineRunError(
                f"{camera}: detector.model {pipeline.cfg.detector.model} failed on "
                f"{failures.failed} of "
                f"{failures.failed + failures.ok} analysed frames (skipped): "
                f"{failures.last_error}",
                exit_code=3,
            )
    finally:
        bar.close()
        if jsonl is not None:
            jsonl.close()
    log.debug(
        "frames %d, detector runs %d, motion-skipped %.0f%%",
        pipeline.stats.frames,
        pipeline.stats.detector_runs,
        100 * pipeline.motion.skipped_share,
    )
    return 0
