"""Central configuration (YAML → pydantic). Errors name the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import (
    Field,
    IPvAnyNetwork,
    field_validator,
    model_validator,
)

from jaywatch.config_file import ConfigError, StrictModel, load_config_file, renamed_key
from jaywatch.mqtt_options import MqttVersion

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class MqttSettings(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = Field(
        None,
        description="the broker password inline (the demo, tests); a deployment keeps it "
        "out of the YAML in password_file",
    )
    password_file: Path | None = Field(
        None,
        description="a file holding only the broker password (as the gateway's "
        "broker.password_file); relative to the working directory",
    )
    ca_file: str | None = Field(
        None,
        description="CA bundle that signed the broker's certificate; set → TLS "
        "(was `cafile`, still read with a warning)",
    )
    client_id: str = Field(
        "central-1",
        description="unique per worker: the persistent session is keyed on it",
    )
    group: str = Field(
        "central",
        description="$share group all workers join",
    )
    session_expiry_s: int = Field(3600, ge=0)
    keepalive_s: int = Field(30, ge=5)
    mqtt_version: MqttVersion = Field(
        "5",
        description='"3.1.1" only for a broker without MQTT 5 (the demo\'s embedded amqtt). It '
        "has no shared subscriptions: every ingest worker would get every event, so "
        "exactly ONE worker may run and mqtt.group must not be set.",
    )

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: object) -> object:
        # `cafile` until 2026-12 (deployed central.yaml files use it); the gateway's key
        # was always `ca_file`.
        return renamed_key(data, "cafile", "ca_file", "mqtt")

    @model_validator(mode="after")
    def _one_password(self) -> MqttSettings:
        if self.password is not None and self.password_file is not None:
            raise ValueError("mqtt: set password or password_file, not both")
        return self

    def login_password(self) -> str | None:
        """The broker password: inline, or the first line of ``password_file``."""
        if self.password_file is None:
            return self.password
        try:
            lines = self.password_file.expanduser().read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise ConfigError(f"mqtt.password_file: {self.password_file}: {e.strerror}") from None
        return lines[0] if lines else ""

    @model_validator(mode="after")
    def _group_needs_mqtt5(self) -> MqttSettings:
        if self.mqtt_version != "5" and "group" in self.model_fields_set:
            raise ValueError(
                f'mqtt.group ({self.group!r}) needs mqtt.mqtt_version "5": MQTT '
                f"{self.mqtt_version} has no shared subscriptions, so run exactly one ingest "
                "worker and remove mqtt.group"
            )
        return self


class IngestSettings(StrictModel):
    batch_max: int = Field(200, ge=1, le=10_000)
    linger_ms: float = Field(
        2.0,
        ge=0,
        le=1000,
        description="Wait this long for more messages before committing a partial batch.",
    )
    max_payload_bytes: int = Field(
        8_000_000,
        ge=1024,
        description="Largest message accepted (bigger ones are dead-lettered unread). A real event"
        " with 3 frames of a 768x576 camera weighs ~0.4 MB, a 1080p one ~2 MB; a video"
        " clip adds up to ~2.7 MB of base64. Keep the broker's message_size_limit at "
        "or below this.",
    )
    dead_letter_raw_bytes: int | None = Field(
        None,
        ge=256,
        description="Bytes kept of one dead letter's payload. null (default): the whole payload"
        " up to max_payload_bytes, so every dead letter that ingest could ever accept can be"
        " requeued; a bigger message (never read) keeps its first 64 KiB. An int keeps at"
        " most that many (a payload cut short cannot be requeued).",
    )
    dead_letters_max_total_bytes: int = Field(
        1 << 30,
        ge=1 << 20,
        description="Cap on the payload bytes kept by all dead letters together. Over it, the"
        " oldest lose all but their first 4 KiB (the row, reason, size and sha256 stay; they"
        " can no longer be requeued), with one audit entry (dead_letter.evict) naming them."
        " When nothing is left to cut (many small messages), the oldest rows are folded into"
        " their topic's coalesced rows (counted, first/last seen, one 4-KiB sample each)."
        " retention.dead_letters_days deletes the rows.",
    )
    dead_letters_per_topic: int = Field(
        1000,
        ge=10,
        le=1_000_000,
        description="Dead letters one topic (one device's violations, status or snapshots)"
        " keeps as rows of their own. Beyond, each further bad message on that topic is"
        " counted into one coalesced row per kind of reason (the part of the reason before"
        " its first colon): count, first and last seen, the first one's reason and first"
        " 4 KiB as a sample, one audit entry (dead_letter.coalesce) when it starts. A"
        " coalesced row cannot be requeued. Keeps one flooding device from burying the"
        " others' dead letters and from growing the table without bound.",
    )
    snapshot_min_interval_s: float = Field(
        4.0,
        ge=0,
        le=3600,
        description="A camera's snapshot arriving sooner than this after the last one kept"
        " is dropped (counted per device: GET /api/devices snapshots_dropped, the devices"
        " page), neither stored nor dead-lettered. Gateways refuse"
        " health.snapshot_interval_s below 5, so 4 leaves a second for network jitter;"
        " 0 = no limit.",
    )

    @property
    def dead_letter_keep_bytes(self) -> int:
        """How many bytes of a dead letter's payload are kept (a whole payload up to this)."""
        if self.dead_letter_raw_bytes is None:
            return self.max_payload_bytes
        return self.dead_letter_raw_bytes

    retry_min_s: float = Field(
        0.5,
        gt=0,
        le=60,
        description="Database (or evidence store) unavailable: retry the batch after retry_min_s, "
        "doubling up to retry_max_s; nothing is acknowledged meanwhile, so nothing is "
        "lost.",
    )
    retry_max_s: float = Field(15.0, gt=0, le=600)
    db_probe_s: float = Field(
        5.0,
        gt=0,
        description="when idle, check the database this often",
    )
    occurred_ahead_s: float = Field(
        600,
        ge=0,
        le=86_400,
        description="An event whose ``occurred`` is further than this ahead of / behind the time "
        "central receives it is stored as 'quarantined' for an admin (GET "
        "/api/quarantine): never queued for review, never fined. Behind: an edge "
        "offline longer than this.",
    )
    occurred_behind_days: float = Field(30, gt=0, le=3650)
    restart_min_s: float = Field(
        0.5,
        gt=0,
        le=60,
        description="The worker thread died (a bug, an injected fault): restart it after "
        "restart_min_s, doubling up to restart_max_s; /api/health says unhealthy until"
        " it runs again.",
    )
    restart_max_s: float = Field(30.0, gt=0, le=600)
    stall_s: float = Field(
        120.0,
        gt=0,
        description="The worker thread alive but making no progress this long (not even an idle "
        "poll): reported unhealthy (stalled).",
    )
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Prometheus /metrics of the worker (DB up, broker connected, outcomes); None ="
        " off.",
    )
    metrics_host: str = "127.0.0.1"


class ScoreSettings(StrictModel):
    start: int = Field(12, ge=1)
    floor: int = Field(0, ge=0)
    points_expire_days: int = Field(730, ge=1)


class AppealSettings(StrictModel):
    """The appeal procedure (central/workflow/appeals.py)."""

    window_days: int = Field(
        28,
        ge=1,
        le=3650,
        description="Days to appeal, counted from the fine notice's delivery receipt (else the "
        "time it was sent, else the fine's issue time when no SMS went out).",
    )
    max_attachments: int = Field(5, ge=0, le=20)
    max_attachment_bytes: int = Field(5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    max_pdf_pages: int = Field(50, ge=1, le=1000)
    reasons_max_chars: int = Field(
        240,
        ge=20,
        le=2000,
        description="The supervisor's reasons go into the decision SMS: at most this many UTF-16 "
        "code units, so the longest rendered text still fits notices' max_parts "
        "(UCS-2: 67/part).",
    )
    new_due_days: int = Field(
        14,
        ge=1,
        le=365,
        description="After a denial the person has at least this many days to pay (the time left "
        "on the due date when they appealed is given back if that is longer: the due "
        "date was paused).",
    )
    second_level: bool = Field(
        False,
        description="A denied appeal may be contested once, within this many days of the denial; a"
        " different supervisor decides (principle: nobody reviews their own decision).",
    )
    second_level_window_days: int = Field(14, ge=1, le=365)


class ReviewSettings(StrictModel):
    """Who must confirm before a sanction, and how long a confirmation can be undone
    (central/workflow/review.py)."""

    # never: one operator decides; weak_matches: a second, different operator must also
    # confirm an event whose match score is less than ``weak_margin`` above the edge's
    # threshold (or whose event carries no threshold); all: every event needs two.
    second_reviewer: Literal["never", "weak_matches", "all"] = "weak_matches"
    weak_margin: float = Field(0.10, ge=0, le=2)  # cosine similarity units
    # After the (final) confirmation the confirming operator may undo it for this long;
    # only then are the fine, points, SMS notice and display entry made (by a background
    # task of `central serve`). 0: at once, no undo.
    undo_window_s: float = Field(30, ge=0, le=3600)
    # How often `central serve` looks for confirmations whose undo window has passed.
    issue_poll_s: float = Field(1.0, gt=0, le=60)


class RetentionSettings(StrictModel):
    """Days each kind of record is kept; ``None`` keeps it forever."""

    dead_letters_days: int | None = 30
    unidentified_events_days: int | None = 30
    quarantined_events_days: int | None = Field(
        30,
        description="events with an implausible time (ingest.occurred_*)",
    )
    dismissed_events_days: int | None = 90
    closed_fine_evidence_days: int | None = Field(
        365,
        description="evidence of paid/void fines, after closure",
    )
    sessions_days: int | None = 7
    snapshots_days: int | None = Field(
        1,
        description="a camera snapshot not replaced by a newer one this long (the camera or "
        "its gateway is gone or stopped sending): the devices page shows none rather than an "
        "old picture",
    )


class ApiSettings(StrictModel):
    session_hours: float = Field(12, gt=0)
    secure_cookies: bool = True
    base_url: str = "http://127.0.0.1:8000"


MiB = 1024 * 1024


class RateRule(StrictModel):
    """``limit`` attempts per ``period_s``, as a steady rate with a burst of ``limit``
    (GCRA): after a burst, one more attempt every ``period_s / limit`` seconds."""

    limit: int = Field(ge=1, le=1_000_000)
    period_s: float = Field(gt=0, le=86_400)


class HttpSettings(StrictModel):
    """The HTTP front door (central/frontdoor): who the client is, how big a request may
    be, how often the public doors may be knocked on."""

    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Reverse proxies (CIDRs) whose X-Forwarded-For / X-Forwarded-Proto are "
        "believed. Empty: the TCP peer is the client, whatever headers it sends.",
    )
    max_body_bytes: int = Field(
        1 * MiB,
        ge=1024,
        description="Request bodies larger than this are refused with 413 while they stream in.",
    )
    body_limits: dict[str, int] = Field(
        default_factory=dict,
        description="Per-route overrides: a glob over the path (fnmatch, ``*`` spans slashes) → "
        "bytes; the longest matching pattern wins. Merged over these defaults.",
    )
    login_per_account: RateRule = Field(
        RateRule(limit=10, period_s=300),
        description="Login: per account name and per client address, shared by every central "
        "process.",
    )
    login_per_address: RateRule = RateRule(limit=30, period_s=300)
    public_per_address: RateRule = Field(
        RateRule(limit=20, period_s=60),
        description="Citizens' notice endpoints (API /api/public/* and the /notice pages, one "
        "budget): per client address, and per notice reference (guessing one notice's "
        "code from many addresses).",
    )
    public_per_reference: RateRule = RateRule(limit=30, period_s=3600)
    password_checks: int = Field(
        2,
        ge=1,
        le=64,
        description="argon2 verifications running at once (each ~64 MiB and a core for ~50 ms); a "
        "login that would wait behind more than max_waiting_password_checks gets 503.",
    )
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
    "/api/payments/webhook": 64 * 1024,  # a checkout provider's event is a few kB
    "/api/gallery": 512 * MiB,  # far above 30k persons x 2 backends
    "/api/persons/*/photos": 64 * MiB,  # enrolment photos of at most 10 MiB each
}


class GallerySettings(StrictModel):
    """The gallery announcer of ``central serve`` (central/gallery_announcer.py)."""

    retained_check_s: float | None = Field(
        300,
        gt=0,
        description="Read what the broker retains on the gallery topic this often and republish "
        "when it is missing or not the newest version (a broker restarted without "
        "persistence loses it); None = never check, only announce at start-up and when"
        " a version is pending.",
    )


class CheckoutProviderSettings(StrictModel):
    """A hosted-checkout provider (central/payments): ``kind`` names the plugin
    (``hosted``: the Stripe-shaped API of central/payments/hosted.py, which the local fake
    provider also speaks; others from the ``jaywatch.payment_providers`` entry points)."""

    kind: str = Field("hosted", min_length=1, max_length=32)
    name: str = Field(
        "hosted",
        pattern=r"^[a-z0-9_-]{1,32}$",
        description="stored with each payment; the provider's payment ids are unique per name",
    )
    api_url: str = Field("http://127.0.0.1:8790", pattern=r"^https?://")
    api_key_file: str | None = Field(
        None, description="a file holding only the provider's API key (Bearer), mode 0600"
    )
    webhook_secret_file: str = Field(
        "var/jaywatch/payments-webhook.secret",
        description="a file holding only the shared webhook secret (HMAC-SHA256, at least 16 "
        "bytes), mode 0600; relative to the working directory",
    )
    webhook_tolerance_s: float = Field(
        300,
        gt=0,
        le=86_400,
        description="a webhook signed further than this from central's clock is refused (a "
        "recorded delivery cannot be replayed later)",
    )
    signature_header: str = Field("Webhook-Signature", pattern=r"^[A-Za-z0-9-]{1,64}$")
    timeout_s: float = Field(10, gt=0, le=120)


class BankDetails(StrictModel):
    """Shown on the notice page with the fine's reference (bank transfer)."""

    account_name: str = Field(min_length=1, max_length=200)
    iban: str = Field(min_length=5, max_length=64)
    bic: str | None = Field(None, max_length=16)
    bank_name: str | None = Field(None, max_length=200)


class PaymentsSettings(StrictModel):
    """How fines are paid (central/workflow/payments.py). Without a provider the notice
    page offers only the bank details; a citizen can never mark a fine paid."""

    provider: CheckoutProviderSettings | None = None
    bank: BankDetails | None = None


class CentralConfig(StrictModel):
    database_url: str = "sqlite:///var/jaywatch/central.db"
    evidence_dir: str = "var/jaywatch/evidence"
    fines_file: str = "config/fines.yaml"
    default_region: str = Field(
        "GB",
        min_length=2,
        max_length=2,
        description="for phone numbers",
    )
    mqtt: MqttSettings = MqttSettings()
    ingest: IngestSettings = IngestSettings()
    score: ScoreSettings = ScoreSettings()
    appeals: AppealSettings = AppealSettings()
    review: ReviewSettings = ReviewSettings()
    retention: RetentionSettings = RetentionSettings()
    api: ApiSettings = ApiSettings()
    gallery: GallerySettings = GallerySettings()
    http: HttpSettings = HttpSettings()
    payments: PaymentsSettings = PaymentsSettings()
    signing_key_file: str | None = Field(
        None,
        description="Ed25519 PEM (``jaywatch central keygen``); set → acks and gallery "
        "announcements are signed, so gateways can require them (their "
        "``central_public_key``).",
    )
    broker_acl_file: str = Field(
        "config/mosquitto/jaywatch.acl",
        description="The broker's topic rules (mosquitto ACL syntax), which `jaywatch central "
        "device add` and `broker user` turn into dynamic-security commands "
        "(jaywatch/broker_acl.py).",
    )


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
    return load_config_file(CentralConfig, path)
