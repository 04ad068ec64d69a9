"""Templates per language, config errors and phone normalisation errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from central.notices.config import NoticesConfig, load_notices_config
from central.notices.kinds import NoticeParamsError, parse_params
from central.notices.templates import RenderedNotice, TemplateError
from central.notices.templates import render as render_typed
from central.phones import to_e164
from tests.central.notices.helpers import GREEK_PHONE, UK_PHONE, fast_config, fine_params


def render(cfg: NoticesConfig, kind: str, params: dict[str, Any], phone: str) -> RenderedNotice:
    """As the sender does: the stored params read as their kind's model, then rendered."""
    return render_typed(cfg, parse_params(kind, params), phone)


def test_language_follows_the_phone_country_and_fields_are_filled() -> None:
    cfg = fast_config()
    el = render(cfg, "fine_issued", fine_params(), GREEK_PHONE)
    en = render(cfg, "fine_issued", fine_params(), UK_PHONE)
    ar = render(cfg, "fine_issued", fine_params(), "+201001234567")
    assert (el.language, en.language, ar.language) == ("el", "en", "ar")
    for r in (el, en, ar):
        assert "JW-7Q2K9" in r.text and "K7Q2" in r.text and "€50.00" in r.text
        assert "https://jaywatch.example.org/n/JW-7Q2K9" in r.text
        assert "2026-12-26" in r.text
    assert "13:57" in en.text  # Europe/London in November = UTC
    assert "{" not in el.text


def test_missing_field_names_template_and_field() -> None:
    """The code is gone from params once the text holding it exists (a re-render needs it)."""
    params = {**fine_params(), "access_code_in_text": True}
    del params["access_code"]
    with pytest.raises(
        TemplateError, match=r"templates\.el\.fine_issued: field 'access_code' missing"
    ):
        render(fast_config(), "fine_issued", params, GREEK_PHONE)


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(NoticeParamsError, match="notice fine_reminder: unknown notice kind"):
        render(fast_config(), "fine_reminder", fine_params(), UK_PHONE)


def test_kind_without_a_template_in_any_language_is_a_clear_error() -> None:
    cfg = fast_config()
    for lang in cfg.templates.values():
        lang.pop("appeal_received", None)
    with pytest.raises(TemplateError, match="no template for notice kind 'appeal_received'"):
        render(cfg, "appeal_received", {"reference": "R1", "appeal": 1}, UK_PHONE)


def test_kind_missing_in_a_language_falls_back_to_default_language() -> None:
    cfg = fast_config()
    cfg.templates["el"] = {k: v for k, v in cfg.templates["el"].items() if k != "appeal_received"}
    r = render(cfg, "appeal_received", {"reference": "R1", "appeal": 1}, GREEK_PHONE)
    assert r.language == "en" and "R1" in r.text


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "templates:\n  en:\n    fine_issued: 'Ref {0}'\n",
            r"templates\.en\.fine_issued: field \{0\} must be a name",
        ),
        (
            "templates:\n  en:\n    fine_issued: 'Ref {reference'\n",
            r"templates\.en\.fine_issued: malformed",
        ),
        ("default_language: fr\n", "default_language 'fr' has no templates"),
        (
            "language_by_country_code: {'30': el}\n",
            r"language_by_country_code\.30: no templates for 'el'",
        ),
        ("timezone: Mars/Olympus\n", "unknown time zone"),
        (
            "templates:\n  en:\n    fine_issued: '{points:plural:one=# point}'\n",
            r"templates\.en\.fine_issued: field \{points\}: plural forms need an 'other='",
        ),
        (
            "templates:\n  en:\n    fine_issued: '{points:plural:single=#|other=#}'\n",
            r"templates\.en\.fine_issued: field \{points\}: plural form 'single=#'",
        ),
        (
            "provider: {kind: http, url: 'http://gw', callback_token: t}\n",
            "callback_token was replaced by callback_secret",
        ),
        ("provider: {kind: smpp, host: x}\n", r"provider\.smpp\.system_id"),
        ("provider: {kind: carrier-pigeon}\n", "provider"),
        ("provider: {kind: twilio, account_sid: AC1, auth_token: t}\n", "from"),
    ],
)
def test_config_errors_name_the_file_and_key(tmp_path: Path, yaml_text: str, message: str) -> None:
    f = tmp_path / "notices.yaml"
    f.write_text(yaml_text)
    with pytest.raises(ValueError, match=message) as e:
        load_notices_config(f)
    assert str(f) in str(e.value)


def test_example_config_loads() -> None:
    from tests.conftest import REPO

    cfg = load_notices_config(REPO / "config" / "notices.example.yaml")
    assert cfg.provider.kind == "log" and {"en", "el", "ar"} <= set(cfg.templates)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("07911 123456", "GB", "+447911123456"),
        ("691 234 5678", "GR", "+306912345678"),
        ("+30 691-234-5678", "GB", "+306912345678"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw: str, region: str, expected: str) -> None:
    assert to_e164(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("hello", "not a phone number"),
        ("+30 12", "wrong length"),
        ("+447700900123", "not a valid number"),
    ],
)
def test_phone_errors_say_what_is_wrong(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as e:
        to_e164(raw, "GB")
    assert repr(raw) in str(e.value)


ARABIC_PHONE = "+201001234567"


@pytest.mark.parametrize(
    ("phone", "points", "expected"),
    [
        (UK_PHONE, 1, "1 point."),
        (UK_PHONE, 2, "2 points."),
        (UK_PHONE, 0, "0 points."),
        (GREEK_PHONE, 1, "1 βαθμός."),
        (GREEK_PHONE, 3, "3 βαθμοί."),
        (ARABIC_PHONE, 1, "نقطة واحدة."),
        (ARABIC_PHONE, 2, "نقطتان."),
        (ARABIC_PHONE, 3, "3 نقاط."),
        (ARABIC_PHONE, 11, "11 نقطة."),
    ],
)
def test_points_take_the_plural_form_of_the_language(
    phone: str, points: int, expected: str
) -> None:
    """The shipped templates (config/notices.example.yaml), CLDR plural rules."""
    text = render(fast_config(), "fine_issued", {**fine_params(), "points": points}, phone).text
    assert expected in text, text
    assert "1 points" not in text and "1 βαθμοί" not in text


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        (UK_PHONE, "1 point is restored"),
        (GREEK_PHONE, "1 βαθμός επιστρέφεται"),
        (ARABIC_PHONE, "نقطة واحدة"),
    ],
)
def test_restored_points_singular(phone: str, expected: str) -> None:
    params = {"reference": "R1", "points_restored": 1, "note": "Signal fault", "level": 1}
    assert expected in render(fast_config(), "appeal_upheld", params, phone).text


def test_built_in_default_templates_pluralise_too() -> None:
    one = render(NoticesConfig(), "fine_issued", {**fine_params(), "points": 1}, UK_PHONE).text
    assert "1 point." in one and "1 points" not in one


def test_points_that_are_not_a_number_are_refused_naming_the_field() -> None:
    with pytest.raises(NoticeParamsError, match=r"notice fine_issued: points: .*integer"):
        render(fast_config(), "fine_issued", {**fine_params(), "points": "many"}, UK_PHONE)


def test_plural_of_a_non_number_names_the_template() -> None:
    cfg = fast_config()
    cfg.templates["en"]["payment_received"] = "{amount:plural:one=# x|other=# xs}"
    with pytest.raises(TemplateError, match=r"templates\.en\.payment_received: plural: '£5'"):
        render(cfg, "payment_received", {"reference": "R1", "amount": "£5"}, UK_PHONE)
