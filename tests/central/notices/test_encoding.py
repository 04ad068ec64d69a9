"""GSM-7 / UCS-2 choice and concatenation (UDH) splitting."""

from __future__ import annotations

import pytest

from central.notices.encoding import (
    DC_GSM7,
    DC_UCS2,
    ESM_UDHI,
    MessageTooLong,
    decode_parts,
    encode_sms,
)


def test_short_latin_text_is_one_gsm7_part_without_udh() -> None:
    e = encode_sms("Fine £50 due 2026-12-26 @ ref JW-1")
    assert (e.data_coding, e.esm_class, len(e.parts)) == (DC_GSM7, 0, 1)
    assert decode_parts(e.data_coding, e.esm_class, e.parts) == "Fine £50 due 2026-12-26 @ ref JW-1"


def test_160_gsm7_characters_fit_one_part_161_need_two() -> None:
    assert len(encode_sms("a" * 160).parts) == 1
    e = encode_sms("a" * 161)
    assert len(e.parts) == 2 and e.esm_class == ESM_UDHI
    assert [len(p) - 6 for p in e.parts] == [153, 8]


def test_escape_pairs_are_never_split_across_parts() -> None:
    text = "a" * 152 + "€" + "b" * 20  # '€' is ESC+0x65: it cannot start at septet 153
    e = encode_sms(text)
    assert e.parts[0][-1] != 0x1B
    assert decode_parts(e.data_coding, e.esm_class, e.parts) == text


def test_one_non_gsm_character_switches_to_ucs2_at_70() -> None:
    assert encode_sms("x" * 69 + "ώ").data_coding == DC_UCS2
    assert len(encode_sms("x" * 69 + "ώ").parts) == 1
    e = encode_sms("x" * 70 + "ώ")
    assert len(e.parts) == 2 and all(len(p) <= 140 for p in e.parts)


@pytest.mark.parametrize(
    "text",
    [
        "Διάβαση με κόκκινο στη Λεωφόρο Συγγρού. Πρόστιμο 50€, έως 26/12. " * 3,
        "عبور الإشارة الحمراء في شارع التحرير. الغرامة ٥٠ جنيها. " * 3,
        "Ok 👍 " * 40,  # astral characters: surrogate pairs must stay whole
    ],
)
def test_non_latin_texts_round_trip_through_concatenated_ucs2(text: str) -> None:
    e = encode_sms(text, reference="notice-7")
    assert e.data_coding == DC_UCS2 and len(e.parts) > 1
    assert {p[3] for p in e.parts} == {encode_sms(text, reference="notice-7").parts[0][3]}
    for p in e.parts:
        assert p[:3] == b"\x05\x00\x03" and p[4] == len(e.parts)
        body = p[6:]
        assert len(body) <= 134
        body.decode("utf-16-be")  # every part is valid UTF-16 on its own
    assert decode_parts(e.data_coding, e.esm_class, list(reversed(e.parts))) == text


def test_too_many_parts_is_refused_with_the_count() -> None:
    with pytest.raises(MessageTooLong, match="needs 3 parts"):
        encode_sms("a" * 400, max_parts=2)
    with pytest.raises(ValueError, match="empty"):
        encode_sms("")
