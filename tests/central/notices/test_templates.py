"""Templates per language, config errors and phone normalisation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.notices.config import load_notices_config
from central.notices.templates import TemplateError, render
from central.phones import to_e164
from tests.central.notices.helpers import GREEK_PHONE, UK_PHONE, fast_config, fine_params


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
    params = fine_params()
    del params["due"]
    with pytest.raises(TemplateError, match=r"templates\.el\.fine_issued: field 'due' missing"):
        render(fast_config(), "fine_issued", params, GREEK_PHONE)


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(TemplateError, match="no template for notice kind 'fine_reminder'"):
        render(fast_config(), "fine_reminder", fine_params(), UK_PHONE)


def test_kind_missing_in_a_language_falls_back_to_default_language() -> None:
    cfg = fast_config()
    cfg.templates["el"] = {k: v for k, v in cfg.templates["el"].items() if k != "appeal_received"}
    r = render(cfg, "appeal_received", {"reference": "R1"}, GREEK_PHONE)
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
