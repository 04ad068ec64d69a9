"""Camera configuration: one YAML file per camera, validated with pydantic.

Every error names the file and the key path and says what was expected, e.g.::

    config/cam.yaml: crossing.zone: expected at least 3 [x, y] points, got 2
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from edge.faces.config import FacesConfig


class ConfigError(ValueError):
    """A config file that cannot be used; the message is one line for the operator."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Point = tuple[float, float]
NonNeg = Annotated[float, Field(ge=0)]


class SignalConfig(_Strict):
    """How the pedestrian signal's phase is read."""

    source: Literal["roi", "controller"] = "roi"
    # Pedestrian signal head in pixels: [x, y, w, h]. Required for source "roi".
    roi: tuple[int, int, int, int] | None = None
    # Lamp colours differ by country: red/green (most of Europe), orange/white (US hand/man).
    stop_colour: Literal["red", "orange"] = "red"
    walk_colour: Literal["green", "white"] = "green"
    # A new state is accepted only after this many consecutive frames agree (flicker, noise).
    hysteresis_frames: Annotated[int, Field(ge=1, le=100)] = 3
    # Share of the ROI's lamp half (the whole ROI for layout "single") that must be lit in
    # the lamp colour to count as lit; below half of it the lamp is dark, between: unsure.
    min_lit_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.04
    # Minimum HSV value (brightness) of a lit lamp pixel.
    min_value: Annotated[int, Field(ge=0, le=255)] = 120
    # "stacked": stop lamp in the ROI's upper half, walk lamp in the lower half (a pedestrian
    # head). "single": decide by colour alone over the whole ROI (one-lamp heads, countdown
    # displays, or a head whose lamps are side by side).
    layout: Literal["stacked", "single"] = "stacked"
    # Source "controller": a feed silent for longer than this reads UNKNOWN (the controller
    # must repeat its phase at least this often).
    controller_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    # Recognise a lamp blinking on/off (a flashing clearance or warning phase) instead of
    # reading each flash as a new red/green. Runs of lit and dark frames of a flashing
    # lamp last between these two durations (0.15-1.3 s: 0.5-2 Hz at usual duty cycles).
    flash_detect: bool = True
    flash_run_s: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] = (0.15, 1.3)
    # Source "controller", live (jaywatch edge run): the controller's pedestrian signal
    # group this camera watches; messages of other groups at the site are ignored.
    signal_group: Annotated[
        str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
    ] = "1"

    @field_validator("flash_run_s")
    @classmethod
    def _flash_runs(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not v[0] < v[1] <= 10:
            raise ValueError(
                f"expected [shortest, longest] run with shortest < longest <= 10, got {list(v)}"
            )
        return v

    @field_validator("roi")
    @classmethod
    def _roi_positive(cls, v: tuple[int, int, int, int] | None) -> tuple[int, int, int, int] | None:
        if v is not None and (v[2] <= 0 or v[3] <= 0 or v[0] < 0 or v[1] < 0):
            raise ValueError("expected [x, y, w, h] with x, y >= 0 and w, h > 0")
        return v


class CrossingConfig(_Strict):
    """The crossing rule: entering the carriageway while red for longer than ``grace_s``."""

    zone: list[Point]
    grace_s: NonNeg = 0.5
    # The foot point must stay inside this long before it counts as an entry (no flicker).
    debounce_s: NonNeg = 0.3
    # Whether stepping out during a flashing phase (flashing red hand, flashing green
    # figure) is an offence at this site. Default: not (it is a clearance/warning). When
    # it is, the time since red counts from the start of the flashing.
    flashing_offence: bool = False

    @field_validator("zone")
    @classmethod
    def _polygon(cls, v: list[Point]) -> list[Point]:
        if len(v) < 3:
            raise ValueError(f"expected at least 3 [x, y] points, got {len(v)}")
        return v


class TilingConfig(_Strict):
    """Overlapping tiles over the detector's region, so small pedestrians stay detectable.

    ``auto`` tiles only when a person at the zone's far edge (``far_person_px`` tall) would
    appear smaller than ``min_input_px`` once the region is squeezed into the detector's
    input, and then lays rows of tiles sized to the people expected in them (perspective
    from ``far_person_px`` at the zone's top-most row to ``near_person_px`` at its
    bottom-most). ``on`` lays a plain grid of ``tile_px`` tiles. Each tile is one more
    inference per analysed frame: the plan and its cost are logged at start.
    """

    mode: Literal["off", "auto", "on"] = "off"
    # Height in frame pixels of a person standing at the zone's far and near edges (read
    # them off a frame; `jaywatch edge check --out` draws the zone).
    far_person_px: Annotated[float, Field(ge=8, le=2000)] = 50
    near_person_px: Annotated[float, Field(ge=8, le=4000)] | None = None
    # Person height the detector needs in its own input; default per detector (SSD 80).
    min_input_px: Annotated[float, Field(ge=8, le=1000)] | None = None
    # mode "on": side of a square tile in frame pixels, and the overlap between tiles.
    tile_px: Annotated[int, Field(ge=64, le=4096)] | None = None
    overlap_px: Annotated[int, Field(ge=0, le=4000)] | None = None
    # Also run the detector once on the whole region (people too big for a tile).
    full_pass: bool = True

    @model_validator(mode="after")
    def _tile_for_on(self) -> TilingConfig:
        if self.mode == "on" and self.tile_px is None:
            raise ValueError("tiling.mode 'on' needs tiling.tile_px")
        if self.tile_px is not None and (self.overlap_px or 0) >= self.tile_px:
            raise ValueError("tiling.overlap_px must be smaller than tiling.tile_px")
        return self


class DetectorConfig(_Strict):
    """Which ONNX model finds pedestrians and how its outputs are laid out."""

    # A name from models/manifest.json (sha256-checked) or a path to the user's own .onnx file.
    model: str = "pedestrian_ssdlite_mnv2"
    # "yolo" reads the YOLO output layout from the model (raw v5/v8 heads, or end-to-end
    # exports with NMS inside: yolo_nms = [1,N,6], yolo_nms7 = [N,7]); see
    # edge/detectors/yolo_layout.py.
    layout: Literal["ssd", "yolo", "yolov5", "yolov8", "yolo_nms", "yolo_nms7"] = "ssd"
    score_threshold: Annotated[float, Field(gt=0, le=1)] = 0.5
    nms_iou: Annotated[float, Field(gt=0, le=1)] = 0.45
    # YOLO: square network input size (read from the model when it is static; 640 when it
    # is dynamic and this is left out) and the class index of "person" (0 in COCO).
    input_size: Annotated[int, Field(ge=32)] | None = None
    person_class_ids: list[int] = [0]
    threads: Annotated[int, Field(ge=1, le=64)] = 2
    # Where the detector looks: "auto" = the crossing zone and the kerb around it (people
    # there are seen at up to native resolution), "full" = the whole frame, or [x, y, w, h].
    region: Literal["auto", "full"] | tuple[int, int, int, int] = "auto"
    tiling: TilingConfig = TilingConfig()


class MotionConfig(_Strict):
    """Skip the detector while nothing moves (as NVRs do)."""

    enabled: bool = True
    # Per-pixel grey-level difference that counts as change.
    pixel_threshold: Annotated[int, Field(ge=1, le=255)] = 25
    # Share of (downscaled) pixels that must change for the frame to count as motion.
    min_area_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.0015
    # Keep running the detector this long after the last motion (tracks need to end cleanly).
    hold_s: NonNeg = 1.0


class TrackerConfig(_Strict):
    high_threshold: Annotated[float, Field(gt=0, le=1)] = 0.5
    low_threshold: Annotated[float, Field(gt=0, le=1)] = 0.2
    match_iou: Annotated[float, Field(gt=0, le=1)] = 0.2
    # A track lost for longer than this is ended (short occlusions survive).
    max_lost_s: NonNeg = 1.5
    min_hits: Annotated[int, Field(ge=1)] = 2


class EvidenceConfig(_Strict):
    """Which frames go with a violation: before the entry, at it, and after it; and the
    clip from ``before_s`` before the entry to ``after_s`` after it."""

    before_s: Annotated[float, Field(ge=0, le=10)] = 2.0
    after_s: Annotated[float, Field(ge=0, le=10)] = 2.0
    jpeg_quality: Annotated[int, Field(ge=50, le=100)] = 90
    # Burn a data bar (camera, place, local time, phase, time since red, grace) below
    # each still, as red-light programmes do, so a printed image tells its story.
    data_bar: bool = True
    clip: bool = True
    # The clip's size budget: the encoder's bit rate is set from it and the clip's
    # duration (bench/bench_evidence_clip.py measures what comes out).
    clip_max_bytes: Annotated[int, Field(ge=50_000, le=4_000_000)] = 1_000_000


class SceneChecksConfig(_Strict):
    """Camera health checks on the picture itself (edge/scene_health.py)."""

    enabled: bool = True
    # Identical frames for longer than this: the stream is frozen.
    frozen_after_s: Annotated[float, Field(gt=0)] = 10.0
    # How often the brightness checks look at a frame, and how long a dark, uniform or
    # colourless picture must last before it is reported.
    check_every_s: Annotated[float, Field(gt=0)] = 1.0
    dark_after_s: NonNeg = 10.0
    dark_mean: Annotated[float, Field(ge=0, le=255)] = 25.0  # grey mean below: dark
    covered_std: Annotated[float, Field(ge=0, le=128)] = 6.0  # grey spread below: uniform
    # Mean chroma (distance from grey in YCrCb) below this: a colourless (IR night) image.
    # Measured here: grey frames after JPEG/MPEG-4 coding 1.4; the dull synthetic road
    # scene 4.6; the vtest campus clip 19.7.
    monochrome_chroma: Annotated[float, Field(ge=0, le=128)] = 2.5
    # The frame saved by `jaywatch edge calibrate` (relative to the camera YAML); without
    # it the view-moved check is off.
    reference: Path | None = None
    moved_every_s: Annotated[float, Field(gt=0)] = 30.0
    # The zone drawn at calibration must overlap itself mapped onto today's view this much.
    moved_min_overlap: Annotated[float, Field(gt=0, le=1)] = 0.7
    moved_min_matches: Annotated[int, Field(ge=4)] = 15
    moved_after_checks: Annotated[int, Field(ge=1)] = 2


class StreamConfig(_Strict):
    """Live-stream behaviour: how long a read may block, reconnect back-off, and which
    gap in frames resets the signal reader, the rule and the tracker."""

    # Opening the stream or reading one frame blocking longer than this counts as a drop
    # (the stream is reopened). FFmpeg back-end (URLs) only.
    read_timeout_s: Annotated[float, Field(gt=0, le=300)] = 5.0
    # Reconnect back-off: 1 s, doubling up to this.
    reconnect_max_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    # Frames further apart than this (a reconnect, a stall, dropped frames) reset the
    # signal reader, the crossing rule's per-track state and the tracker: a red start
    # seen before the gap must not time an entry after it. Every reconnect resets too.
    gap_reset_s: Annotated[float, Field(gt=0, le=3600)] = 2.0


class CameraConfig(_Strict):
    """One camera as configured on a gateway."""

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    # Video file, stream URL (rtsp://, http://) or device index; optional for offline use.
    source: str | int | None = None
    # Frames analysed per second; None analyses every frame the source gives.
    fps: Annotated[float, Field(gt=0, le=120)] | None = None
    place: Annotated[str, Field(max_length=200)] = ""
    # The site's IANA time zone: evidence shows local time beside UTC (data bar, console).
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"
    signal: SignalConfig
    crossing: CrossingConfig
    detector: DetectorConfig = DetectorConfig()
    motion: MotionConfig = MotionConfig()
    tracker: TrackerConfig = TrackerConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    faces: FacesConfig = FacesConfig()
    health: SceneChecksConfig = SceneChecksConfig()
    stream: StreamConfig = StreamConfig()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected an IANA time zone (Europe/Berlin), got {v!r}") from None
        return v

    @model_validator(mode="after")
    def _roi_needed(self) -> CameraConfig:
        if self.signal.source == "roi" and self.signal.roi is None:
            raise ValueError("signal.roi: required when signal.source is 'roi'")
        if self.fps is not None and self.stream.gap_reset_s <= 1.5 / self.fps:
            raise ValueError(
                f"stream.gap_reset_s: expected more than 1.5 frame intervals at fps "
                f"{self.fps:g} (> {1.5 / self.fps:.3g} s), got {self.stream.gap_reset_s:g}"
            )
        return self


def _format_validation_error(path: Path, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    extra = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{path}: {loc}: {msg}{extra}" if loc else f"{path}: {msg}{extra}"


def load_yaml_mapping(path: Path) -> dict:
    """Read a YAML file that must hold a mapping; errors name the file."""
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} not valid YAML: {getattr(e, 'problem', e)}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    return data


def load_camera_config(path: str | Path) -> CameraConfig:
    """Load and validate a camera YAML file.

    Raises:
        ConfigError: with one line naming the file, the key and what was expected.
    """
    p = Path(path)
    data = load_yaml_mapping(p)
    try:
        cfg = CameraConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(p, e)) from None
    ref = cfg.health.reference
    if ref is not None:
        ref = ref.expanduser()
        ref = ref if ref.is_absolute() else p.resolve().parent / ref
        if not ref.is_file():
            raise ConfigError(f"{p}: health.reference: file not found: {ref}")
        cfg = cfg.model_copy(update={"health": cfg.health.model_copy(update={"reference": ref})})
    return cfg
