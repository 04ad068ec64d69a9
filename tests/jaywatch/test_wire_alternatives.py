"""``MatchResult.alternatives`` (issue 17): a later field, signed with the event, and old
and new peers interoperate. The "old" peer is the contract as it was before the field
(tests/jaywatch/data/wire_before_alternatives.py, a verbatim copy), loaded as its own
module: a gateway or central still running that code."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from jaywatch import wire
from tests.central.helpers import violation


def _old_contract() -> ModuleType:
    path = Path(__file__).parent / "data" / "wire_before_alternatives.py"
    spec = importlib.util.spec_from_file_location("wire_before_alternatives", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = mod  # pydantic resolves the annotations through it
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


OLD = _old_contract()
KEY = wire.generate_device_key()
PUB = wire.public_key_bytes(KEY)
ALTS = [("p-biden", 0.31), ("p-astronaut", 0.12)]


def _wire_json(ev: wire.ViolationEvent) -> bytes:
    return ev.model_dump_json().encode()


def test_new_event_with_alternatives_round_trips_and_verifies() -> None:
    ev = violation(KEY, person_id="p-obama", score=0.62, threshold=0.4, alternatives=ALTS)
    got = wire.parse_message(_wire_json(ev))
    assert isinstance(got, wire.ViolationEvent) and got.match is not None
    assert [(a.person_id, a.score) for a in got.match.alternatives] == ALTS
    assert wire.verify_message(got, PUB)
    assert b'"alternatives":[{"person_id":"p-biden","score":0.31}' in wire.canonical_bytes(got)


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m["alternatives"][0].__setitem__("score", 0.2),  # a close rival made to look far
        lambda m: m["alternatives"].pop(0),  # a close rival removed
        lambda m: m["alternatives"][1].__setitem__("person_id", "p-someone"),
    ],
)
def test_the_signature_covers_the_alternatives(edit) -> None:
    ev = violation(KEY, person_id="p-obama", score=0.62, threshold=0.4, alternatives=ALTS)
    body = json.loads(_wire_json(ev))
    edit(body["match"])
    got = wire.parse_message(json.dumps(body).encode())
    assert not wire.verify_message(got, PUB)


def test_an_alternatives_field_added_in_transit_breaks_the_signature() -> None:
    ev = violation(KEY, person_id="p-obama", score=0.62)
    body = json.loads(_wire_json(ev))
    assert "alternatives" not in body["match"]  # empty: left out, as before the field
    body["match"]["alternatives"] = [{"person_id": "p-biden", "score": 0.3}]
    assert not wire.verify_message(wire.parse_message(json.dumps(body).encode()), PUB)


def test_old_gateway_event_is_accepted_by_new_central() -> None:
    old_ev = OLD.sign_message(
        OLD.ViolationEvent.model_validate(
            violation(KEY, person_id="p-obama", sign=False).model_dump(mode="json")
        ),
        KEY,
    )
    got = wire.parse_message(old_ev.model_dump_json().encode())
    assert isinstance(got, wire.ViolationEvent) and got.match is not None
    assert got.match.alternatives == []
    assert wire.verify_message(got, PUB)
    assert wire.canonical_bytes(got) == OLD.canonical_bytes(old_ev)


def test_new_gateway_without_alternatives_is_accepted_by_old_central() -> None:
    """``faces.alternatives: 0`` (the default) and every unidentified event: the same bytes
    as before, so a central not yet upgraded stores them."""
    for ev in (violation(KEY, person_id="p-obama"), violation(KEY)):
        got = OLD.parse_message(_wire_json(ev))
        assert OLD.verify_message(got, PUB)
        assert OLD.canonical_bytes(got) == wire.canonical_bytes(ev)


def test_new_gateway_with_alternatives_is_refused_by_old_central_naming_the_field() -> None:
    """Why the edge default is off: an older central dead-letters them (upgrade it first)."""
    ev = violation(KEY, person_id="p-obama", score=0.62, alternatives=ALTS)
    with pytest.raises(ValueError, match=r"match\.alternatives"):
        OLD.parse_message(_wire_json(ev))


def _match(**over) -> dict:
    alts = [{"person_id": "p-biden", "score": 0.31}, {"person_id": "p-astronaut", "score": 0.12}]
    m = {"person_id": "p-obama", "score": 0.62, "alternatives": alts}
    m.update(over)
    return m


def _parse_with(match: dict) -> None:
    body = json.loads(_wire_json(violation(KEY, person_id="p-obama", sign=False)))
    body["match"] = match
    wire.parse_message(json.dumps(body).encode())


@pytest.mark.parametrize(
    ("alternatives", "error"),
    [
        ([{"person_id": "p-biden", "score": 7.5}], r"alternatives\.0\.score.*or equal to 1"),
        ([{"person_id": "p-biden", "score": -3}], r"alternatives\.0\.score"),
        ([{"person_id": "p-biden", "score": 0.9}], r"\[0\]\.score: 0\.9 ranks above the match"),
        ([{"person_id": "p-biden", "score": 0.1}, {"person_id": "p-x", "score": 0.2}],
         r"alternatives\[1\]\.score: 0\.2 ranks above alternatives\[0\]"),
        ([{"person_id": "p-biden", "score": 0.3}, {"person_id": "p-biden", "score": 0.2}],
         r"alternatives\[1\]\.person_id: a duplicate"),
        ([{"person_id": "p-obama", "score": 0.3}], r"\[0\]\.person_id: the matched person"),
        ([{"person_id": f"p-{i}", "score": 0.1} for i in range(11)], r"at most 10"),
        ([{"person_id": "", "score": 0.1}], r"alternatives\.0\.person_id"),
        ([{"person_id": "p-\x00", "score": 0.1}], r"control character"),
        ([{"person_id": "p-b", "score": 0.1, "name": "Joe"}], r"alternatives\.0\.name"),
        ([{"person_id": "p-b"}], r"alternatives\.0\.score"),
        ({"p-b": 0.1}, r"alternatives"),
    ],
)  # fmt: skip
def test_hostile_alternatives_are_refused_naming_the_field(alternatives, error) -> None:
    with pytest.raises(ValueError, match=error):
        _parse_with(_match(alternatives=alternatives))


def test_nan_and_infinite_scores_are_refused() -> None:
    for bad in ("NaN", "Infinity", "-Infinity", "1e999"):
        body = json.loads(_wire_json(violation(KEY, person_id="p-obama", sign=False)))
        text = json.dumps(body, separators=(",", ":")).replace(
            '"match":{', '"match":{"alternatives":[{"person_id":"p-b","score":' + bad + "}],", 1
        )
        with pytest.raises(ValueError, match=r"alternatives"):
            wire.parse_message(text.encode())
