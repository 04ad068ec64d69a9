"""Notice text: the template for the notice's kind in the recipient's language.

The language follows the phone's country calling code (config), falling back to the
default. The fields are those of the notice kind's model
(central/notices/kinds.py) plus ``url`` (the citizen's page for this
reference) and ``when`` (the offence time in the configured time zone).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

from central.notices import plural
from central.notices.config import NoticesConfig
from central.notices.kinds import FineIssued, NoticeParams


class TemplateError(ValueError):
    """The notice cannot be rendered: names the template and what is missing."""


@dataclass(frozen=True)
class RenderedNotice:
    language: str
    text: str


def language_for(config: NoticesConfig, to_e164: str) -> str:
    try:
        cc = str(phonenumbers.parse(to_e164, None).country_code)
    except phonenumbers.NumberParseException:
        return config.default_language
    return config.language_by_country_code.get(cc, config.default_language)


def template_values(config: NoticesConfig, params: NoticeParams) -> dict[str, Any]:
    # The stored JSON form, so a field reads in the text as it always has (due
    # "2026-12-26"); numbers stay numbers for the plural rules.
    values: dict[str, Any] = params.model_dump(mode="json")
    values.setdefault("url", config.notice_url.format(reference=params.reference))
    if isinstance(params, FineIssued):
        tz = ZoneInfo(config.timezone)
        values.setdefault("when", params.occurred.astimezone(tz).strftime("%Y-%m-%d %H:%M"))
    return values


class _Strict(string.Formatter):
    def __init__(self, language: str) -> None:
        super().__init__()
        self.language = language

    def format_field(self, value: Any, format_spec: str) -> Any:
        if plural.is_plural(format_spec):  # {points:plural:one=# point|other=# points}
            return plural.plural(self.language, value, format_spec)
        return super().format_field(value, format_spec)

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        if isinstance(key, int):
            raise TemplateError(f"positional field {{{key}}}")
        if key not in kwargs:
            raise KeyError(key)
        value = kwargs[key]
        if value is None:
            raise KeyError(key)
        return value


def render(config: NoticesConfig, params: NoticeParams, to_e164: str) -> RenderedNotice:
    """Render or raise :class:`TemplateError` naming ``templates.<lang>.<kind>`` and the field."""
    kind = params.kind.value
    lang = language_for(config, to_e164)
    templates = config.templates.get(lang) or {}
    where = f"templates.{lang}.{kind}"
    if kind not in templates:
        fallback = config.templates.get(config.default_language, {})
        if kind not in fallback:
            raise TemplateError(f"{where}: no template for notice kind {kind!r}")
        lang, templates = config.default_language, fallback
        where = f"templates.{lang}.{kind}"
    values = template_values(config, params)
    try:
        text = _Strict(lang).format(templates[kind], **values)
    except KeyError as e:
        have = ", ".join(sorted(k for k, v in values.items() if v is not None))
        raise TemplateError(
            f"{where}: field {e.args[0]!r} missing from the notice (has: {have})"
        ) from None
    except (ValueError, IndexError, AttributeError) as e:
        raise TemplateError(f"{where}: {e}") from None
    return RenderedNotice(lang, text.strip())
