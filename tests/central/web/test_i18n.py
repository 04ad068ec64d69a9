"""The citizen pages' catalogs (central/web/locale) and language helpers: every message
the templates and citizen.py mark is translated in el and ar; CLDR plural forms (Arabic
has six); Accept-Language and ``?lang=`` negotiation; times in the site's zone."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from central.web import i18n

REPO = Path(__file__).resolve().parents[3]


def test_every_marked_message_is_translated(tmp_path: Path) -> None:
    pot = tmp_path / "citizen.pot"
    done = subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
         "-k", "N_", "-o", str(pot), "."],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    ids = {m.id for m in read_po(pot.open("rb")) if m.id}
    assert len(ids) > 40  # the notice page and the form are marked up
    for lang in ("el", "ar"):
        po = read_po((i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "citizen.po").open("rb"))
        missing = sorted(str(i) for i in ids if not (po.get(i) and po.get(i).string))
        assert missing == [], (lang, missing)


@pytest.mark.parametrize(
    ("lang", "n", "text"),
    [
        ("en", 1, "1 point"),
        ("en", 2, "2 points"),
        ("el", 1, "1 βαθμός"),
        ("el", 3, "3 βαθμοί"),
        ("ar", 0, "0 نقطة"),
        ("ar", 1, "نقطة واحدة"),
        ("ar", 2, "نقطتان"),
        ("ar", 3, "3 نقاط"),
        ("ar", 11, "11 نقطة"),
    ],
)
def test_plural_forms(lang: str, n: int, text: str) -> None:
    t = i18n.translations(lang)
    assert t.ngettext("%(count)s point", "%(count)s points", n) % {"count": n} == text


def test_language_negotiation() -> None:
    assert i18n.from_accept_language("fr-FR,el;q=0.8,ar;q=0.9") == "ar"
    assert i18n.from_accept_language("de, fr") is None
    assert i18n.from_accept_language("el;q=0, en;q=0.1") == "en"
    assert i18n.from_accept_language("x" * 5000) is None
    assert i18n.supported("el-GR") == "el" and i18n.supported("../etc") is None


def test_times_in_the_site_zone_and_direction() -> None:
    t = datetime(2026, 1, 5, 8, 45, tzinfo=UTC)
    athens = i18n.PageLanguage("el", i18n.zone("Europe/Athens"))
    assert "10:45" in athens.when(t) and "Europe/Athens" in athens.when(t)
    assert i18n.PageLanguage("ar", i18n.zone(None)).direction == "rtl"
    assert i18n.zone("Not/AZone").key == "UTC"  # a hostile site_tz falls back, said so
