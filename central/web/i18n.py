"""The citizen's language and time: gettext message catalogs for the citizen pages
(``central/web/locale/<lang>/LC_MESSAGES/citizen.po``, read with babel), CLDR plural
forms (the catalog's Plural-Forms: Arabic has six), dates and times in the site's time
zone (babel), and the text direction (``dir="rtl"`` for Arabic).

Templates mark text with ``{% trans %}…{% endtrans %}`` / ``{{ _("…") }}`` (jinja2's i18n
extension); ``pybabel extract -F babel.cfg`` finds them (docs/i18n.md). English is the
source language, so it needs no catalog.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = ("en", "el", "ar")  # the notices' languages (config/notices.example.yaml)
DEFAULT = "en"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "citizen"


@lru_cache(maxsize=8)
def N_(message: str) -> str:
    """Marks a message for extraction (``pybabel extract -k N_``) where it is defined; it
    is translated where it is shown, in the page's language."""
    return message


def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog of ``language`` (English: the source strings as they are)."""
    if language == DEFAULT:
        return gettext.NullTranslations()
    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as f:
        catalog = read_po(f, locale=language, domain=DOMAIN)
    buf = BytesIO()
    write_mo(buf, catalog)  # compiled in memory: no build step, no .mo in the tree
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def supported(tag: str | None) -> str | None:
    """``tag``'s language if the citizen pages have it (``el-GR`` → ``el``), else None."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The best supported language of an Accept-Language header (q-values honoured)."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((header or "").split(",")[:20]):
        tag, _, params = part.partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = supported(tag)
        if lang is not None and q > 0:
            ranked.append((-q, i, lang))
    return min(ranked)[2] if ranked else None


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    """The site's time zone by IANA name (events carry it: wire schema 2 ``site_tz``)."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


@dataclass(frozen=True)
class PageLanguage:
    """What a citizen page renders with: language, direction, catalog, time zone."""

    code: str
    tz: ZoneInfo

    @property
    def direction(self) -> str:
        return Locale.parse(self.code).text_direction  # "rtl" for Arabic

    @property
    def gettext(self) -> Callable[[str], str]:
        return translations(self.code).gettext

    @property
    def ngettext(self) -> Callable[[str, str, int], str]:
        return translations(self.code).ngettext

    def when(self, t: datetime | None) -> str:
        """A moment in the site's time zone, in this language, with the zone's name."""
        if t is None:
            return "—"
        local = format_datetime(t, "medium", tzinfo=self.tz, locale=self.code)
        return f"{local} ({self.tz.key})"

    def day(self, d: date | datetime | None) -> str:
        if d is None:
            return "—"
        if isinstance(d, datetime):
            d = d.astimezone(self.tz).date()
        return format_date(d, "long", locale=self.code)

    def template_context(self) -> dict[str, Any]:
        """Shadows the i18n extension's global (English) callables for this page."""
        return {
            "lang": self.code,
            "dir": self.direction,
            "gettext": self.gettext,
            "ngettext": self.ngettext,
            "_": self.gettext,
            "local_time": self.when,
            "local_day": self.day,
            "languages": LANGUAGES,
        }
