"""Plural forms in SMS templates: ``{points:plural:one=# point|other=# points}``.

The format spec after ``plural:`` lists CLDR plural categories (zero, one, two, few,
many, other; ``other`` is required) with their text, ``#`` standing for the number.
Which category a number falls in is the language's CLDR rule (babel): English and
Greek have one/other, Arabic all six (1 نقطة واحدة, 2 نقطتان, 3–10 نقاط, 11–99 نقطة).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale, UnknownLocaleError

PREFIX = "plural:"
CATEGORIES = ("zero", "one", "two", "few", "many", "other")


def is_plural(spec: str) -> bool:
    return spec.startswith(PREFIX)


def parse_plural(spec: str) -> dict[str, str]:
    """``plural:one=…|other=…`` → {category: text}; ValueError naming what is wrong."""
    forms: dict[str, str] = {}
    for item in spec[len(PREFIX) :].split("|"):
        cat, sep, text = item.partition("=")
        cat = cat.strip()
        if not sep or cat not in CATEGORIES:
            raise ValueError(
                f"plural form {item!r}: expected CATEGORY=text with CATEGORY one of "
                + ", ".join(CATEGORIES)
            )
        if cat in forms:
            raise ValueError(f"plural category {cat!r} given twice")
        forms[cat] = text
    if "other" not in forms:
        raise ValueError("plural forms need an 'other=' form")
    return forms


@lru_cache(maxsize=32)
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def plural(language: str, value: object, spec: str) -> str:
    """The text for ``value`` in ``language``; ValueError if ``value`` is not a number."""
    forms = parse_plural(spec)
    try:
        n = Decimal(str(value)) if not isinstance(value, bool) else None
    except InvalidOperation:
        n = None
    if n is None or not n.is_finite():
        raise ValueError(f"plural: {value!r} is not a number")
    number = int(n) if n == n.to_integral_value() else n
    category = _locale(language).plural_form(number)
    return forms.get(category, forms["other"]).replace("#", str(number))
