"""Gateway configuration (config/edge.yaml): device identity, broker, key, outbox, cameras.

Relative paths in the file are resolved against the file's own directory, so a config
directory can be moved as a whole. Everything is checked at start: a gateway that will
run unattended for months must fail on the first day with one clear line, e.g.::

    config/edge.yaml: broker.port: Input should be less than or equal to 65535
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    IPvAnyAddress,
    PlainValidator,
    model_validator,
)

from edge.config import (
    CameraConfig,
    ConfigError,
    load_camera_config,
)
from jaywatch.config_file import StrictModel, load_config_file
from jaywatch.mqtt_options import MqttVersion
from jaywatch.wire import DeviceId

PosFloat = Annotated[float, Field(gt=0)]


def _count_or_auto(v: object) -> int | str:
    if v == "auto":
        return "auto"
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 64:
        raise ValueError(f"expected 'auto' or a whole number from 1 to 64, got {v!r}")
    return v


# A thread count or "auto", with one error line (a plain int | Literal union gives two).
CountOrAuto = Annotated[int | Literal["auto"], PlainValidator(_count_or_auto)]


class BrokerConfig(StrictModel):
    """How this device reaches the MQTT broker (one username/password per device)."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8883
    tls: bool = True
    ca_file: Path | None = Field(
        None,
        description="CA bundle that signed the broker's certificate; None uses the system store.",
    )
    username: str | None = Field(
        None,
        description="Defaults to the device id: the broker ACL pins each username to its own "
        "topics.",
    )
    password_file: Path | None = Field(
        None,
        description="A file holding only the password (kept out of the YAML, which is often "
        "shared).",
    )
    client_id: str | None = Field(
        None,
        description="Defaults to the device id; the shipped broker (dynamic-security) accepts no "
        "other.",
    )
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    session_expiry_s: Annotated[int, Field(ge=0)] = Field(
        7 * 24 * 3600,
        description="How long the broker keeps this device's session (queued acks) while it is "
        "offline.",
    )
    reconnect_min_s: PosFloat = 1.0
    reconnect_max_s: PosFloat = 60.0
    mqtt_version: MqttVersion = Field(
        "5",
        description='"3.1.1" only for a broker without MQTT 5 (the demo\'s embedded amqtt): no '
        "session expiry, no reason codes on refused publishes; the outbox's resend "
        "keeps it correct.",
    )

    def read_password(self) -> str | None:
        """The password from ``password_file`` (trailing newline stripped), or None."""
        if self.password_file is None:
            return None
        try:
            return self.password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as e:
            raise ConfigError(f"{self.password_file}: cannot read broker password ({e})") from None


class OutboxConfig(StrictModel):
    path: Path = Path("/var/lib/jaywatch/outbox.sqlite")
    window_per_camera: Annotated[int, Field(ge=1, le=10_000)] = Field(
        64,
        description="Unacked events per camera on the wire at once (the oldest first). 1 gives "
        "strict arrival order at central; more gives throughput over slow links.",
    )
    retry_base_s: PosFloat = Field(
        10.0,
        description="First resend of an unacked event after this long; doubles per attempt, with "
        "jitter.",
    )
    retry_max_s: PosFloat = 600.0
    min_free_bytes: Annotated[int, Field(ge=0)] = Field(
        512 * 1024 * 1024,
        description="Below this much free disk the gateway reports disk_low (it never drops "
        "events).",
    )


class HealthConfig(StrictModel):
    interval_s: PosFloat = 30.0
    metrics_port: Annotated[int, Field(ge=0, le=65535)] | None = Field(
        9108,
        description="Prometheus metrics; None disables the endpoint. Loopback by default (scraped "
        "locally or through a tunnel; a gateway should not expose ports on the "
        "street).",
    )
    metrics_host: str = "127.0.0.1"
    signal_unknown_alert_s: PosFloat = Field(
        300.0,
        description="A camera's signal with no usable phase (unknown/dark, or no frames) for "
        "longer than this raises an alert: logged, metric "
        "jaywatch_camera_signal_alert, devices page.",
    )
    snapshot_interval_s: Annotated[float, Field(ge=0, le=86_400)] = Field(
        60.0,
        description="Every this many seconds each camera sends central a small thumbnail "
        "(<= 320 px wide) of its last frame for the devices page, with every person and face "
        "blurred on the gateway first (edge/snapshot.py). 0 turns snapshots off; otherwise at "
        "least 5 s.",
    )

    @model_validator(mode="after")
    def _snapshot_interval(self) -> HealthConfig:
        if 0 < self.snapshot_interval_s < 5:
            raise ValueError(
                f"snapshot_interval_s: {self.snapshot_interval_s:g} s is too often "
                "(0 turns snapshots off; otherwise at least 5 s)"
            )
        return self


class GalleryConfig(StrictModel):
    """Where the enrolled gallery lives and how updates announced by central are fetched
    (edge/gallery_sync.py). The file is replaced atomically on every accepted update."""

    path: Path = Path("/var/lib/jaywatch/gallery.npz")
    ca_file: Path | None = Field(
        None,
        description="CA bundle for an HTTPS snapshot URL; None uses the system store.",
    )
    timeout_s: PosFloat = 30.0
    retry_min_s: PosFloat = Field(
        5.0,
        description="A failed fetch (network, bad hash, bad file) is retried after this, doubling.",
    )
    retry_max_s: PosFloat = 600.0
    max_bytes: Annotated[int, Field(ge=1024)] = 512 * 1024 * 1024


class LanInputConfig(StrictModel):
    """A UDP or HTTP listener for a signal controller on the gateway's LAN."""

    host: str = Field(
        "127.0.0.1",
        description="Bind to the LAN interface the controller is on, never to the street side.",
    )
    port: Annotated[int, Field(ge=0, le=65535)]


class SignalFeedConfig(StrictModel):
    """Where live controller phases come from (cameras with ``signal.source: controller``).
    Every input goes through the same parser and clock alignment (edge/signal/live.py)."""

    site: DeviceId | None = Field(
        None,
        description="The site (intersection) name in the MQTT topic "
        "jaywatch/v1/signal/<site>/phase and in every message; defaults to the device "
        "id (the shipped ACL lets a device read the topic of the site named like "
        "itself).",
    )
    mqtt: bool = True
    udp: LanInputConfig | None = None
    http: LanInputConfig | None = None
    allow_from: list[IPvAnyAddress] = Field(
        default_factory=list,
        description="LAN inputs accept datagrams/requests only from these addresses (empty: any).",
    )
    skew_window_s: Annotated[float, Field(gt=0, le=86_400)] = Field(
        300.0,
        description="Clock skew (controller minus gateway) is the largest (controller_time - "
        "arrival) over this window: the least-delayed message bounds it best.",
    )
    max_skew_s: Annotated[float, Field(gt=0, le=86_400 * 365)] = Field(
        600.0,
        description="A message whose controller_time is further than this from the gateway's clock"
        " is rejected (a controller with a wild clock, or a forged time), not used for"
        " the skew.",
    )


class DetectorPoolConfig(StrictModel):
    """One detector pool shared by every camera (edge/detectors/pool.py) and the thread
    counts of the whole gateway (edge/thread_plan.py); the plan is logged at start."""

    workers: CountOrAuto = Field(
        "auto", description="inference threads serving all cameras; auto: one per core on 2 cores"
    )
    intra_op_threads: CountOrAuto = Field(
        "auto", description="onnxruntime intra-op threads per inference; auto: cores / workers"
    )
    inter_op_threads: Annotated[int, Field(ge=1, le=8)] = Field(
        1, description="onnxruntime inter-op threads (the detector graphs are chains)"
    )
    max_batch: Annotated[int, Field(ge=1, le=64)] = Field(
        8,
        description="frames or tiles, from any camera, run in one inference at most "
        "(models whose input has a batch axis; others run one by one)",
    )
    opencv_threads: CountOrAuto = Field(
        "auto", description="cv2.setNumThreads; auto: 1 with several cameras (each has a thread)"
    )


class GatewayConfig(StrictModel):
    device_id: DeviceId
    broker: BrokerConfig = BrokerConfig()
    key_file: Path
    outbox: OutboxConfig = OutboxConfig()
    cameras: Annotated[list[Path], Field(min_length=1)]
    health: HealthConfig = HealthConfig()
    gallery: GalleryConfig | None = Field(
        None,
        description="None: no gallery updates (a gallery may still be given with --gallery).",
    )
    central_public_key: str | None = Field(
        None,
        description="Base64 raw Ed25519 key of central; when set, acks must carry its signature.",
    )
    signal_feed: SignalFeedConfig = Field(
        SignalFeedConfig(),
        description="Live controller phases; used only when a camera has signal.source: "
        "controller.",
    )
    detector_pool: DetectorPoolConfig = DetectorPoolConfig()

    @model_validator(mode="after")
    def _distinct_cameras(self) -> GatewayConfig:
        if len(set(self.cameras)) != len(self.cameras):
            raise ValueError("cameras: the same camera file is listed twice")
        return self

    @property
    def mqtt_username(self) -> str:
        return self.broker.username or self.device_id

    def central_key_bytes(self) -> bytes | None:
        import base64
        import binascii

        if self.central_public_key is None:
            return None
        try:
            raw = base64.b64decode(self.central_public_key, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ConfigError("central_public_key: expected base64 of a 32-byte Ed25519 key")
        return raw

    def load_cameras(self) -> list[CameraConfig]:
        """Load every camera file; camera ids must be unique on a gateway."""
        cams = [load_camera_config(p) for p in self.cameras]
        seen: dict[str, Path] = {}
        for path, cam in zip(self.cameras, cams, strict=True):
            if cam.id in seen:
                raise ConfigError(
                    f"{path}: id: camera id {cam.id!r} is also used by {seen[cam.id]}"
                )
            seen[cam.id] = path
        return cams


def _resolve(base: Path, p: Path | None) -> Path | None:
    if p is None:
        return None
    p = p.expanduser()
    return p if p.is_absolute() else (base / p)


def load_gateway_config(path: str | Path, *, check_files: bool = True) -> GatewayConfig:
    """Load, validate and resolve the gateway config.

    With ``check_files`` the camera files are loaded and validated too, and the key,
    password and CA files must exist, so a broken install fails at start rather than at
    the first violation.

    Raises:
        ConfigError: one line naming the file, the key and what was expected.
    """
    p = Path(path)
    cfg = load_config_file(GatewayConfig, p)
    base = p.resolve().parent
    broker = cfg.broker.model_copy(
        update={
            "ca_file": _resolve(base, cfg.broker.ca_file),
            "password_file": _resolve(base, cfg.broker.password_file),
        }
    )
    cfg = cfg.model_copy(
        update={
            "broker": broker,
            "key_file": _resolve(base, cfg.key_file),
            "outbox": cfg.outbox.model_copy(update={"path": _resolve(base, cfg.outbox.path)}),
            "cameras": [_resolve(base, c) for c in cfg.cameras],
            "gallery": None
            if cfg.gallery is None
            else cfg.gallery.model_copy(
                update={
                    "path": _resolve(base, cfg.gallery.path),
                    "ca_file": _resolve(base, cfg.gallery.ca_file),
                }
            ),
        }
    )
    try:
        cfg.central_key_bytes()
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None
    if check_files:
        for key, f in (
            ("key_file", cfg.key_file),
            ("broker.password_file", cfg.broker.password_file),
            ("broker.ca_file", cfg.broker.ca_file),
            ("gallery.ca_file", cfg.gallery.ca_file if cfg.gallery else None),
        ):
            if f is not None and not f.is_file():
                hint = (
                    " (create it with `jaywatch edge keygen --out FILE`)"
                    if key == "key_file"
                    else ""
                )
                raise ConfigError(f"{p}: {key}: file not found: {f}{hint}")
        if not cfg.outbox.path.parent.is_dir():
            raise ConfigError(
                f"{p}: outbox.path: directory does not exist: {cfg.outbox.path.parent}"
            )
        if cfg.gallery is not None and not cfg.gallery.path.parent.is_dir():
            raise ConfigError(
                f"{p}: gallery.path: directory does not exist: {cfg.gallery.path.parent}"
            )
        cameras = cfg.load_cameras()
        from edge.thread_plan import ThreadPlanError, available_cores, plan_threads

        try:
            plan_threads(cfg.detector_pool, available_cores(), len(cameras))
        except ThreadPlanError as e:
            raise ConfigError(f"{p}: {e}") from None
    return cfg
