"""Phone numbers: everything stored is E.164, checked with libphonenumber."""

from __future__ import annotations

import phonenumbers


def to_e164(raw: str, default_region: str = "GB") -> str:
    """Parse and validate; raise ValueError saying what is wrong with ``raw``."""
    try:
        num = phonenumbers.parse(raw, default_region.upper())
    except phonenumbers.NumberParseException as e:
        raise ValueError(f"phone {raw!r}: not a phone number ({e})") from None
    if not phonenumbers.is_possible_number(num):
        raise ValueError(f"phone {raw!r}: wrong length for its country")
    if not phonenumbers.is_valid_number(num):
        raise ValueError(f"phone {raw!r}: not a valid number (region {default_region})")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
