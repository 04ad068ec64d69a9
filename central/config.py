"""Central configuration (YAML → pydantic). Errors name the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    ValidationError,
    field_validator,
    model_validator,
)

from jaywatch.mqtt_options import MqttVersion

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    cafile: str | None = None  # set → TLS
    client_id: str = "central-1"  # unique per worker: the persistent session is keyed on it
    group: str = "central"  # $share group all workers join
    session_expiry_s: int = Field(3600, ge=0)
    keepalive_s: int = Field(30, ge=5)
    # "3.1.1" only for a broker without MQTT 5 (the demo's embedded amqtt). It has no
    # shared subscriptions: every ingest worker would get every event, so exactly ONE
    # worker may run and mqtt.group must not be set.
    mqtt_version: MqttVersion = "5"

    @model_validator(mode="after")
    def _group_needs_mqtt5(self) -> MqttSettings:
        if self.mqtt_version != "5" and "group" in self.model_fields_set:
            raise ValueError(
                f'mqtt.group ({self.group!r}) needs mqtt.mqtt_version "5": MQTT '
                f"{self.mqtt_version} has no shared subscriptions, so run exactly one ingest "
                "worker and remove mqtt.group"
            )
        return self


class IngestSettings(Strict):
    batch_max: int = Field(200, ge=1, le=10_000)
    # Wait this long for more messages before committing a partial batch.
    linger_ms: float = Field(2.0, ge=0, le=1000)
    # Largest message accepted (bigger ones are dead-lettered unread). A real event with
    # 3 frames of a 768x576 camera weighs ~0.4 MB, a 1080p one ~2 MB; a video clip adds
    # up to ~2.7 MB of base64. Keep the broker's message_size_limit at or below this.
    max_payload_bytes: int = Field(8_000_000, ge=1024)
    dead_letter_raw_bytes: int = Field(65_536, ge=256)  # raw payload kept per dead letter
    # Database (or evidence store) unavailable: retry the batch after retry_min_s, doubling
    # up to retry_max_s; nothing is acknowledged meanwhile, so nothing is lost.
    retry_min_s: float = Field(0.5, gt=0, le=60)
    retry_max_s: float = Field(15.0, gt=0, le=600)
    db_probe_s: float = Field(5.0, gt=0)  # when idle, check the database this often
    # An event whose ``occurred`` is further than this ahead of / behind the time central
    # receives it is stored as 'quarantined' for an admin (GET /api/quarantine): never
    # queued for review, never fined. Behind: an edge offline longer than this.
    occurred_ahead_s: float = Field(600, ge=0, le=86_400)
    occurred_behind_days: float = Field(30, gt=0, le=3650)
    # The worker thread died (a bug, an injected fault): restart it after restart_min_s,
    # doubling up to restart_max_s; /api/health says unhealthy until it runs again.
    restart_min_s: float = Field(0.5, gt=0, le=60)
    restart_max_s: float = Field(30.0, gt=0, le=600)
    # The worker thread alive but making no progress this long (not even an idle poll):
    # reported unhealthy (stalled).
    stall_s: float = Field(120.0, gt=0)
    # Prometheus /metrics of the worker (DB up, broker connected, outcomes); None = off.
    metrics_port: int | None = Field(None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"


class ScoreSettings(Strict):
    start: int = Field(12, ge=1)
    floor: int = Field(0, ge=0)
    points_expire_days: int = Field(730, ge=1)


class AppealSettings(Strict):
    """The appeal procedure (central/workflow/appeals.py)."""

    # Days to appeal, counted from the fine notice's delivery receipt (else the time it
    # was sent, else the fine's issue time when no SMS went out).
    window_days: int = Field(28, ge=1, le=3650)
    max_attachments: int = Field(5, ge=0, le=20)
    max_attachment_bytes: int = Field(5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    max_pdf_pages: int = Field(50, ge=1, le=1000)
    # The supervisor's reasons go into the decision SMS: at most this many UTF-16 code
    # units, so the longest rendered text still fits notices' max_parts (UCS-2: 67/part).
    reasons_max_chars: int = Field(240, ge=20, le=2000)
    # After a denial the person has at least this many days to pay (the time left on the
    # due date when they appealed is given back if that is longer: the due date was paused).
    new_due_days: int = Field(14, ge=1, le=365)
    # A denied appeal may be contested once, within this many days of the denial; a
    # different supervisor decides (principle: nobody reviews their own decision).
    second_level: bool = False
    second_level_window_days: int = Field(14, ge=1, le=365)


class RetentionSettings(Strict):
    """Days each kind of record is kept; ``None`` keeps it forever."""

    dead_letters_days: int | None = 30
    unidentified_events_days: int | None = 30
    quarantined_events_days: int | None = 30  # events with an implausible time (ingest.occurred_*)
    dismissed_events_days: int | None = 90
    closed_fine_evidence_days: int | None = 365  # evidence of paid/void fines, after closure
    sessions_days: int | None = 7


class ApiSettings(Strict):
    session_hours: float = Field(12, gt=0)
    secure_cookies: bool = True
    base_url: str = "http://127.0.0.1:8000"


MiB = 1024 * 1024


class RateRule(Strict):
    """``limit`` attempts per ``period_s``, as a steady rate with a burst of ``limit``
    (GCRA): after a burst, one more attempt every ``period_s / limit`` seconds."""

    limit: int = Field(ge=1, le=1_000_000)
    period_s: float = Field(gt=0, le=86_400)


class HttpSettings(Strict):
    """The HTTP front door (central/frontdoor): who the client is, how big a request may
    be, how often the public doors may be knocked on."""

    # Reverse proxies (CIDRs) whose X-Forwarded-For / X-Forwarded-Proto are believed.
    # Empty: the TCP peer is the client, whatever headers it sends.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    # Request bodies larger than this are refused with 413 while they stream in.
    max_body_bytes: int = Field(1 * MiB, ge=1024)
    # Per-route overrides: a glob over the path (fnmatch, ``*`` spans slashes) → bytes;
    # the longest matching pattern wins. Merged over these defaults.
    body_limits: dict[str, int] = Field(default_factory=dict)
    # Login: per account name and per client address, shared by every central process.
    login_per_account: RateRule = RateRule(limit=10, period_s=300)
    login_per_address: RateRule = RateRule(limit=30, period_s=300)
    # Citizens' notice endpoints (API /api/public/* and the /notice pages, one budget):
    # per client address, and per notice reference (guessing one notice's code from
    # many addresses).
    public_per_address: RateRule = RateRule(limit=20, period_s=60)
    public_per_reference: RateRule = RateRule(limit=30, period_s=3600)
    # argon2 verifications running at once (each ~64 MiB and a core for ~50 ms); a login
    # that would wait behind more than max_waiting_password_checks gets 503.
    password_checks: int = Field(2, ge=1, le=64)
    max_waiting_password_checks: int = Field(64, ge=0, le=10_000)

    @field_validator("body_limits")
    @classmethod
    def _limits(cls, v: dict[str, int]) -> dict[str, int]:
        for pattern, n in v.items():
            if not pattern.startswith("/"):
                raise ValueError(f"{pattern!r}: expected a path pattern starting with /")
            if not isinstance(n, int) or n < 1024:
                raise ValueError(f"{pattern!r}: expected a number of bytes >= 1024, got {n!r}")
        return v

    def route_body_limits(self, appeals: AppealSettings | None = None) -> dict[str, int]:
        """Per-route limits: the defaults, the appeal doors sized to ``appeals``' attachments
        (base64 in JSON: 4/3), then the configured ``body_limits`` over both."""
        sized: dict[str, int] = {}
        if appeals is not None:
            files = appeals.max_attachments * appeals.max_attachment_bytes
            sized = {
                "/notice/appeal": files + 128 * 1024,  # multipart: the files as they are
                "/api/public/appeal": files * 4 // 3 + 128 * 1024,
            }
        return {**DEFAULT_BODY_LIMITS, **sized, **self.body_limits}


# Sized from what each route accepts (schemas' max_length, JSON's \uXXXX escapes and
# form encoding's %XX at worst): small doors stay small.
DEFAULT_BODY_LIMITS: dict[str, int] = {
    "/api/auth/login": 16 * 1024,
    "/console/login": 16 * 1024,
    "/api/public/*": 96 * 1024,  # appeal grounds: 5,000 characters
    "/notice*": 96 * 1024,
    "/n/*": 4 * 1024,  # notice links: GET only
    "/api/sms/receipts/*": 16 * 1024,  # a gateway's delivery receipt is a few hundred bytes
    "/api/gallery": 512 * MiB,  # far above 30k persons x 2 backends
    "/api/persons/*/photos": 64 * MiB,  # enrolment photos of at most 10 MiB each
}


class GallerySettings(Strict):
    """The gallery announcer of ``central serve`` (central/gallery.py)."""

    # Read what the broker retains on the gallery topic this often and republish when it
    # is missing or not the newest version (a broker restarted without persistence loses
    # it); None = never check, only announce at start-up and when a version is pending.
    retained_check_s: float | None = Field(300, gt=0)


class CentralConfig(Strict):
    database_url: str = "sqlite:///var/jaywatch/central.db"
    evidence_dir: str = "var/jaywatch/evidence"
    fines_file: str = "config/fines.yaml"
    default_region: str = Field("GB", min_length=2, max_length=2)  # for phone numbers
    mqtt: MqttSettings = MqttSettings()
    ingest: IngestSettings = IngestSettings()
    score: ScoreSettings = ScoreSettings()
    appeals: AppealSettings = AppealSettings()
    retention: RetentionSettings = RetentionSettings()
    api: ApiSettings = ApiSettings()
    gallery: GallerySettings = GallerySettings()
    http: HttpSettings = HttpSettings()
    # Ed25519 PEM (``jaywatch central keygen``); set → acks and gallery announcements are
    # signed, so gateways can require them (their ``central_public_key``).
    signing_key_file: str | None = None
    # The broker's topic rules (mosquitto ACL syntax), which `jaywatch central device add`
    # and `broker user` turn into dynamic-security commands (jaywatch/broker_acl.py).
    broker_acl_file: str = "config/mosquitto/jaywatch.acl"


def format_validation_error(path: Path | str, e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        key = ".".join(str(x) for x in err["loc"]) or "(top level)"
        parts.append(f"{path}: {key}: {err['msg']}")
    return "; ".join(parts)


def load_yaml(path: Path | str) -> object:
    p = Path(path)
    try:
        return yaml.safe_load(p.read_text()) or {}
    except FileNotFoundError:
        raise ValueError(f"{p}: file not found") from None
    except yaml.YAMLError as e:
        raise ValueError(f"{p}: not valid YAML: {e}") from None


def load_signing_key(config: CentralConfig) -> Ed25519PrivateKey | None:
    """Central's Ed25519 key from ``signing_key_file`` (relative to the working directory,
    like the config's other paths); ``None`` when unset. The same rules as a device key
    (jaywatch.keys): owner-only, unencrypted PEM, Ed25519. Raises ValueError naming it."""
    if config.signing_key_file is None:
        return None
    from jaywatch.keys import KeyFileError, load_key_file

    try:
        return load_key_file(config.signing_key_file, keygen="jaywatch central keygen")
    except KeyFileError as e:
        raise ValueError(f"signing_key_file: {e}") from None


def load_config(path: Path | str | None) -> CentralConfig:
    """Load the central config; ``None`` gives the defaults (demo: SQLite on disk)."""
    if path is None:
        return CentralConfig()
    data = load_yaml(path)
    try:
        return CentralConfig.model_validate(data)
    except ValidationError as e:
        raise ValueError(format_validation_error(path, e)) from None
