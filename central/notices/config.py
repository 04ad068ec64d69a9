"""Notice configuration (YAML → pydantic): provider, retry policy, templates per language.

Kept in its own file (config/notices.example.yaml) so the SMS credentials live apart
from the central config. Errors name the file and the key.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, field_validator, model_validator

from central.notices import plural
from jaywatch.config_file import StrictModel, load_config_file

# Used when the config names no templates (the demo); config/notices.example.yaml has more.
DEFAULT_TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "fine_issued": (
            "Red-light crossing: {offence} at {place} on {when}. Fine {amount}, due {due}, "
            "{points:plural:one=# point|other=# points}. Ref {reference} code {access_code}. "
            "Evidence, payment and appeal: {url}"
        ),
        "payment_received": "Payment of {amount} received for ref {reference}. Thank you.",
        "appeal_received": "Your appeal for ref {reference} was received. We will tell you "
        "the decision by SMS.",
        "appeal_upheld": "Your appeal for ref {reference} was upheld: the fine is void and "
        "{points_restored:plural:one=# point is|other=# points are} restored. Reasons: {note}",
        "appeal_denied": "Your appeal for ref {reference} was denied. Reasons: {note} "
        "New due date {due}. Details: {url}",
    }
}


class SmppSettings(StrictModel):
    kind: Literal["smpp"]
    host: str
    port: int = Field(2775, ge=1, le=65535)
    system_id: str = Field(min_length=1, max_length=15)
    password: str = Field("", max_length=8)
    system_type: str = ""
    source_addr: str = Field("JAYWATCH", min_length=1, max_length=20)
    source_addr_ton: int = Field(
        5,
        ge=0,
        le=6,
        description="5 = alphanumeric sender id; 1 = international number.",
    )
    source_addr_npi: int = Field(0, ge=0, le=18)
    timeout_s: float = Field(10.0, gt=0)
    registered_delivery: bool = Field(
        True,
        description="ask the SMSC for delivery receipts",
    )
    throttle_retries: int = Field(
        3,
        ge=0,
        le=10,
        description="A part refused as throttled / queue full is resent after 1 s, 2 s, 4 s ...",
    )
    throttle_pause_s: float = Field(1.0, ge=0)


class HttpGatewaySettings(StrictModel):
    """Generic JSON gateway: POST {"to", "text", "reference"} with an Idempotency-Key."""

    kind: Literal["http"]
    url: str = Field(pattern=r"^https?://")
    token: str | None = Field(
        None,
        description='sent as "Authorization: Bearer <token>"',
    )
    sender: str = "JAYWATCH"
    honours_idempotency_key: bool = Field(
        True,
        description="True only if the gateway de-duplicates on the Idempotency-Key header: then a "
        "notice whose submission was interrupted is safely resubmitted with the same "
        "key.",
    )
    timeout_s: float = Field(10.0, gt=0)
    callback_secret: str | None = Field(
        None,
        min_length=16,
        description="The gateway's delivery callbacks (POST /api/sms/receipts/http) must carry "
        "\"X-Jaywatch-Signature: t=<unix s>,v1=<hex HMAC-SHA256(this, '<t>.' + raw "
        'body)>".',
    )
    callback_tolerance_s: float = Field(
        300.0,
        gt=0,
        le=3600,
        description="|now - t| allowed",
    )

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: object) -> object:
        if isinstance(data, dict) and "callback_token" in data:
            raise ValueError(
                "callback_token was replaced by callback_secret: receipts are now signed "
                "(HMAC-SHA256 over the body, header X-Jaywatch-Signature), see docs/central.md"
            )
        return data


class TwilioSettings(StrictModel):
    """Twilio's Messages resource (form POST, basic auth); base_url is overridable."""

    kind: Literal["twilio"]
    account_sid: str = Field(min_length=1)
    auth_token: str = Field(min_length=1)
    from_: str | None = Field(None, alias="from")
    messaging_service_sid: str | None = None
    status_callback: str | None = Field(
        None,
        description="URL Twilio posts delivery status to",
    )
    base_url: str = Field("https://api.twilio.com", pattern=r"^https?://")
    timeout_s: float = Field(10.0, gt=0)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _sender(self) -> TwilioSettings:
        if not (self.from_ or self.messaging_service_sid):
            raise ValueError("set 'from' (a number or sender id) or 'messaging_service_sid'")
        return self


class LogSettings(StrictModel):
    """Demo provider: writes the SMS to the log and reports it delivered."""

    kind: Literal["log"]


ProviderSettings = Annotated[
    SmppSettings | HttpGatewaySettings | TwilioSettings | LogSettings,
    Field(discriminator="kind"),
]


class RetrySettings(StrictModel):
    max_attempts: int = Field(6, ge=1, le=100)
    backoff_base_s: float = Field(
        30.0,
        ge=0,
        description="delay after attempt n: base * 2**(n-1)",
    )
    backoff_max_s: float = Field(3600.0, ge=0)
    claim_lease_s: float = Field(
        300.0,
        gt=0,
        description="A notice left in 'submitting' longer than this is treated as orphaned by a "
        "crashed worker (see worker.py for what happens to it).",
    )


class NoticesConfig(StrictModel):
    provider: ProviderSettings = LogSettings(kind="log")
    retry: RetrySettings = RetrySettings()
    batch_size: int = Field(20, ge=1, le=1000)
    poll_interval_s: float = Field(2.0, gt=0)
    max_parts: int = Field(
        6,
        ge=1,
        le=255,
        description="longer texts are a template error",
    )
    timezone: str = Field(
        "UTC",
        description="how times are written in the SMS",
    )
    notice_url: str = Field(
        "http://127.0.0.1:8000/n/{reference}",
        description="{reference} is replaced; the citizen's page with evidence, payment and "
        "appeal.",
    )
    default_language: str = "en"
    language_by_country_code: dict[str, str] = Field(
        default_factory=dict,
        description='E.164 country calling code → language, e.g. {"30": "el", "20": "ar"}.',
    )
    templates: dict[str, dict[str, str]] = Field(
        default_factory=lambda: dict(DEFAULT_TEMPLATES),
        description='language → notice kind → template (str.format fields, e.g. "{reference}").',
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r} (use an IANA name, e.g. Europe/Athens)"
            ) from None
        return v

    @field_validator("templates")
    @classmethod
    def _templates(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for lang, kinds in v.items():
            for kind, text in kinds.items():
                template_fields(text, f"templates.{lang}.{kind}")
        return v

    @model_validator(mode="after")
    def _languages(self) -> NoticesConfig:
        if self.templates and self.default_language not in self.templates:
            raise ValueError(f"default_language {self.default_language!r} has no templates")
        for cc, lang in self.language_by_country_code.items():
            if lang not in self.templates:
                raise ValueError(f"language_by_country_code.{cc}: no templates for {lang!r}")
        return self


def template_fields(text: str, where: str) -> set[str]:
    """The named fields of a template; positional or malformed fields are refused."""
    fields: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        raise ValueError(f"{where}: malformed template ({e})") from None
    for _lit, name, spec, _conv in parsed:
        if name is None:
            continue
        if spec and plural.is_plural(spec):
            try:
                plural.parse_plural(spec)
            except ValueError as e:
                raise ValueError(f"{where}: field {{{name}}}: {e}") from None
        base = name.split(".")[0].split("[")[0]
        if not base.isidentifier():
            raise ValueError(f"{where}: field {{{name}}} must be a name, e.g. {{reference}}")
        fields.add(base)
    return fields


def load_notices_config(path: Path | str | None) -> NoticesConfig:
    """``None`` → defaults (log provider, no templates: every notice uses the fallback)."""
    if path is None:
        return NoticesConfig()
    return load_config_file(NoticesConfig, path)
