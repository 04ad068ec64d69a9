"""Camera configuration: one YAML file per camera, validated with pydantic.

Every error names the file and the key path and says what was expected, e.g.::

    config/cam.yaml: crossing.zone: expected at least 3 [x, y] points, got 2
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from edge.faces.config import FacesConfig
from jaywatch.config_file import (
    ConfigError,
    StrictModel,
    load_config_file,
    load_yaml_mapping,
)

__all__ = ["ConfigError", "load_yaml_mapping"]


Point = tuple[float, float]
NonNeg = Annotated[float, Field(ge=0)]


class SignalConfig(StrictModel):
    """How the pedestrian signal's phase is read."""

    source: Literal["roi", "controller"] = "roi"
    roi: tuple[int, int, int, int] | None = Field(
        None,
        description='Pedestrian signal head in pixels: [x, y, w, h]. Required for source "roi".',
    )
    stop_colour: Literal["red", "orange"] = Field(
        "red",
        description="Lamp colours differ by country: red/green (most of Europe), orange/white (US "
        "hand/man).",
    )
    walk_colour: Literal["green", "white"] = "green"
    hysteresis_frames: Annotated[int, Field(ge=1, le=100)] = Field(
        3,
        description="A new state is accepted only after this many consecutive frames agree "
        "(flicker, noise).",
    )
    min_lit_fraction: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.04,
        description='Share of the ROI\'s lamp half (the whole ROI for layout "single") that must '
        "be lit in the lamp colour to count as lit; below half of it the lamp is dark,"
        " between: unsure.",
    )
    min_value: Annotated[int, Field(ge=0, le=255)] = Field(
        120,
        description="Minimum HSV value (brightness) of a lit lamp pixel.",
    )
    layout: Literal["stacked", "single"] = Field(
        "stacked",
        description='"stacked": stop lamp in the ROI\'s upper half, walk lamp in the lower half '
        '(a pedestrian head). "single": decide by colour alone over the whole ROI '
        "(one-lamp heads, countdown displays, or a head whose lamps are side by side).",
    )
    controller_timeout_s: Annotated[float, Field(gt=0)] = Field(
        10.0,
        description='Source "controller": a feed silent for longer than this reads UNKNOWN (the '
        "controller must repeat its phase at least this often).",
    )
    flash_detect: bool = Field(
        True,
        description="Recognise a lamp blinking on/off (a flashing clearance or warning phase) "
        "instead of reading each flash as a new red/green. Runs of lit and dark frames"
        " of a flashing lamp last between these two durations (0.15-1.3 s: 0.5-2 Hz at"
        " usual duty cycles).",
    )
    flash_run_s: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] = (0.15, 1.3)
    signal_group: Annotated[
        str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
    ] = Field(
        "1",
        description='Source "controller", live (jaywatch edge run): the controller\'s pedestrian '
        "signal group this camera watches; messages of other groups at the site are ignored.",
    )

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


class CrossingConfig(StrictModel):
    """The crossing rule: entering the carriageway while red for longer than ``grace_s``."""

    zone: list[Point]
    grace_s: NonNeg = 0.5
    debounce_s: NonNeg = Field(
        0.3,
        description="The foot point must stay inside this long before it counts as an entry (no "
        "flicker).",
    )
    flashing_offence: bool = Field(
        False,
        description="Whether stepping out during a flashing phase (flashing red hand, flashing "
        "green figure) is an offence at this site. Default: not (it is a "
        "clearance/warning). When it is, the time since red counts from the start of "
        "the flashing.",
    )

    @field_validator("zone")
    @classmethod
    def _polygon(cls, v: list[Point]) -> list[Point]:
        if len(v) < 3:
            raise ValueError(f"expected at least 3 [x, y] points, got {len(v)}")
        return v


class TilingConfig(StrictModel):
    """Overlapping tiles over the detector's region, so small pedestrians stay detectable.

    ``auto`` tiles only when a person at the zone's far edge (``far_person_px`` tall) would
    appear smaller than ``min_input_px`` once the region is squeezed into the detector's
    input, and then lays rows of tiles sized to the people expected in them (perspective
    from ``far_person_px`` at the zone's top-most row to ``near_person_px`` at its
    bottom-most). ``on`` lays a plain grid of ``tile_px`` tiles. Each tile is one more
    inference per analysed frame: the plan and its cost are logged at start.
    """

    mode: Literal["off", "auto", "on"] = "off"
    far_person_px: Annotated[float, Field(ge=8, le=2000)] = Field(
        50,
        description="Height in frame pixels of a person standing at the zone's far and near edges "
        "(read them off a frame; `jaywatch edge check --out` draws the zone).",
    )
    near_person_px: Annotated[float, Field(ge=8, le=4000)] | None = None
    min_input_px: Annotated[float, Field(ge=8, le=1000)] | None = Field(
        None,
        description="Person height the detector needs in its own input; default per detector (SSD "
        "80).",
    )
    tile_px: Annotated[int, Field(ge=64, le=4096)] | None = Field(
        None,
        description='mode "on": side of a square tile in frame pixels, and the overlap between '
        "tiles.",
    )
    overlap_px: Annotated[int, Field(ge=0, le=4000)] | None = None
    full_pass: bool = Field(
        True,
        description="Also run the detector once on the whole region (people too big for a tile).",
    )

    @model_validator(mode="after")
    def _tile_for_on(self) -> TilingConfig:
        if self.mode == "on" and self.tile_px is None:
            raise ValueError("tiling.mode 'on' needs tiling.tile_px")
        if self.tile_px is not None and (self.overlap_px or 0) >= self.tile_px:
            raise ValueError("tiling.overlap_px must be smaller than tiling.tile_px")
        return self


class DetectorConfig(StrictModel):
    """Which ONNX model finds pedestrians and how its outputs are laid out."""

    model: str = Field(
        "pedestrian_ssdlite_mnv2",
        description="A name from models/manifest.json (sha256-checked) or a path to the user's own"
        " .onnx file.",
    )
    layout: Literal["ssd", "yolo", "yolov5", "yolov8", "yolo_nms", "yolo_nms7"] = Field(
        "ssd",
        description='"yolo" reads the YOLO output layout from the model (raw v5/v8 heads, or '
        "end-to-end exports with NMS inside: yolo_nms = [1,N,6], yolo_nms7 = [N,7]); "
        "see edge/detectors/yolo_layout.py.",
    )
    score_threshold: Annotated[float, Field(gt=0, le=1)] = 0.5
    nms_iou: Annotated[float, Field(gt=0, le=1)] = 0.45
    input_size: Annotated[int, Field(ge=32)] | None = Field(
        None,
        description="YOLO: square network input size (read from the model when it is static; 640 "
        'when it is dynamic and this is left out) and the class index of "person" (0'
        " in COCO).",
    )
    person_class_ids: list[int] = Field(default_factory=lambda: [0])
    threads: Annotated[int, Field(ge=1, le=64)] = 2
    region: Literal["auto", "full"] | tuple[int, int, int, int] = Field(
        "auto",
        description='Where the detector looks: "auto" = the crossing zone and the kerb around it'
        ' (people there are seen at up to native resolution), "full" = the whole '
        "frame, or [x, y, w, h].",
    )
    tiling: TilingConfig = TilingConfig()


class MotionConfig(StrictModel):
    """Skip the detector while nothing moves (as NVRs do)."""

    enabled: bool = True
    pixel_threshold: Annotated[int, Field(ge=1, le=255)] = Field(
        25,
        description="Per-pixel grey-level difference that counts as change.",
    )
    min_area_fraction: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.0015,
        description="Share of (downscaled) pixels that must change for the frame to count as "
        "motion.",
    )
    hold_s: NonNeg = Field(
        1.0,
        description="Keep running the detector this long after the last motion (tracks need to end"
        " cleanly).",
    )


class TrackerConfig(StrictModel):
    high_threshold: Annotated[float, Field(gt=0, le=1)] = 0.5
    low_threshold: Annotated[float, Field(gt=0, le=1)] = 0.2
    match_iou: Annotated[float, Field(gt=0, le=1)] = 0.2
    max_lost_s: NonNeg = Field(
        1.5,
        description="A track lost for longer than this is ended (short occlusions survive).",
    )
    min_hits: Annotated[int, Field(ge=1)] = 2


class EvidenceConfig(StrictModel):
    """Which frames go with a violation: before the entry, at it, and after it; and the
    clip from ``before_s`` before the entry to ``after_s`` after it."""

    before_s: Annotated[float, Field(ge=0, le=10)] = 2.0
    after_s: Annotated[float, Field(ge=0, le=10)] = 2.0
    jpeg_quality: Annotated[int, Field(ge=50, le=100)] = 90
    data_bar: bool = Field(
        True,
        description="Burn a data bar (camera, place, local time, phase, time since red, grace) "
        "below each still, as red-light programmes do, so a printed image tells its "
        "story.",
    )
    clip: bool = True
    clip_max_bytes: Annotated[int, Field(ge=50_000, le=4_000_000)] = Field(
        1_000_000,
        description="The clip's size budget: the encoder's bit rate is set from it and the clip's "
        "duration (bench/bench_evidence_clip.py measures what comes out).",
    )


class SceneChecksConfig(StrictModel):
    """Camera health checks on the picture itself (edge/scene_health.py)."""

    enabled: bool = True
    frozen_after_s: Annotated[float, Field(gt=0)] = Field(
        10.0,
        description="Identical frames for longer than this: the stream is frozen.",
    )
    check_every_s: Annotated[float, Field(gt=0)] = Field(
        1.0,
        description="How often the brightness checks look at a frame, and how long a dark, uniform"
        " or colourless picture must last before it is reported.",
    )
    dark_after_s: NonNeg = 10.0
    dark_mean: Annotated[float, Field(ge=0, le=255)] = Field(
        25.0,
        description="grey mean below: dark",
    )
    covered_std: Annotated[float, Field(ge=0, le=128)] = Field(
        6.0,
        description="grey spread below: uniform",
    )
    monochrome_chroma: Annotated[float, Field(ge=0, le=128)] = Field(
        2.5,
        description="Mean chroma (distance from grey in YCrCb) below this: a colourless (IR night)"
        " image. Measured here: grey frames after JPEG/MPEG-4 coding 1.4; the dull "
        "synthetic road scene 4.6; the vtest campus clip 19.7.",
    )
    reference: Path | None = Field(
        None,
        description="The frame saved by `jaywatch edge calibrate` (relative to the camera YAML); "
        "without it the view-moved check is off.",
    )
    moved_every_s: Annotated[float, Field(gt=0)] = 30.0
    moved_min_overlap: Annotated[float, Field(gt=0, le=1)] = Field(
        0.7,
        description="The zone drawn at calibration must overlap itself mapped onto today's view "
        "this much.",
    )
    moved_min_matches: Annotated[int, Field(ge=4)] = 15
    moved_after_checks: Annotated[int, Field(ge=1)] = 2


class StreamConfig(StrictModel):
    """Live-stream behaviour: how long a read may block, reconnect back-off, and which
    gap in frames resets the signal reader, the rule and the tracker."""

    read_timeout_s: Annotated[float, Field(gt=0, le=300)] = Field(
        5.0,
        description="Opening the stream or reading one frame blocking longer than this counts as a"
        " drop (the stream is reopened). FFmpeg back-end (URLs) only.",
    )
    reconnect_max_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        30.0,
        description="Reconnect back-off: 1 s, doubling up to this.",
    )
    gap_reset_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        2.0,
        description="Frames further apart than this (a reconnect, a stall, dropped frames) reset "
        "the signal reader, the crossing rule's per-track state and the tracker: a red"
        " start seen before the gap must not time an entry after it. Every reconnect "
        "resets too.",
    )
    hwaccel: Annotated[str, Field(pattern=r"^[a-z0-9_]{2,20}$")] = Field(
        "off",
        description="decode on a GPU/VPU through FFmpeg (PyAV): off, auto (the first device "
        "that opens) or a device type (vaapi, cuda, qsv, drm, ...); software if it fails",
    )


class DetectStreamConfig(StrictModel):
    """What the detector sees instead of the main stream (edge/av_capture.py); evidence,
    faces and the clip keep the full-resolution main stream. Boxes map to main pixels."""

    source: str | None = Field(
        None,
        description="the camera's sub stream (URL or file); omit to downscale the main "
        "stream once in the decoder to `width`",
    )
    width: Annotated[int, Field(ge=160, le=4096)] | None = Field(
        None, description="detect image width (height keeps the main frame's aspect)"
    )
    max_skew_s: Annotated[float, Field(gt=0, le=1)] = Field(
        0.05,
        description="a sub frame further than this in time from a main frame is not its "
        "pair; that frame is detected on the main image (live: a main frame waits up to "
        "this long for its sub frame, which often arrives a few ms after it)",
    )

    @model_validator(mode="after")
    def _one_way(self) -> DetectStreamConfig:
        if self.source is None and self.width is None:
            raise ValueError("expected `source` (a sub stream) or `width` (decoder downscale)")
        if self.source is not None and self.width is not None:
            raise ValueError("`width` is for the decoder downscale; a sub stream is used as sent")
        return self


class CameraConfig(StrictModel):
    """One camera as configured on a gateway."""

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    source: str | int | None = Field(
        None,
        description="Video file, stream URL (rtsp://, http://) or device index; optional for "
        "offline use.",
    )
    fps: Annotated[float, Field(gt=0, le=120)] | None = Field(
        None,
        description="Frames analysed per second; None analyses every frame the source gives.",
    )
    place: Annotated[str, Field(max_length=200)] = ""
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        "UTC",
        description="The site's IANA time zone: evidence shows local time beside UTC (data bar, "
        "console).",
    )
    signal: SignalConfig
    crossing: CrossingConfig
    detector: DetectorConfig = DetectorConfig()
    motion: MotionConfig = MotionConfig()
    tracker: TrackerConfig = TrackerConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    faces: FacesConfig = FacesConfig()
    health: SceneChecksConfig = SceneChecksConfig()
    stream: StreamConfig = StreamConfig()
    detect_stream: DetectStreamConfig | None = Field(
        None,
        description="A low-resolution image for the detector (sub stream or decoder "
        "downscale); None: the detector sees the main stream.",
    )

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


def load_camera_config(path: str | Path) -> CameraConfig:
    """Load and validate a camera YAML file.

    Raises:
        ConfigError: with one line naming the file, the key and what was expected.
    """
    p = Path(path)
    cfg = load_config_file(CameraConfig, p)
    ref = cfg.health.reference
    if ref is not None:
        ref = ref.expanduser()
        ref = ref if ref.is_absolute() else p.resolve().parent / ref
        if not ref.is_file():
            raise ConfigError(f"{p}: health.reference: file not found: {ref}")
        cfg = cfg.model_copy(update={"health": cfg.health.model_copy(update={"reference": ref})})
    return cfg
