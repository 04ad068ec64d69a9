"""One model per notice kind: stored JSON unchanged, bad params refused where they are
made, and a stored row that does not fit its kind goes to paper without stopping the sender."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from central.notices.kinds import (
    MODELS,
    AppealDenied,
    AppealReceived,
    AppealUpheld,
    FineIssued,
    NoticeKind,
    NoticeParams,
    NoticeParamsError,
    PaymentReceived,
    parse_params,
    queue_notice,
)
from central.notices.providers.log import LogProvider
from central.notices.templates import render
from central.notices.worker import NoticeSender
from tests.central.notices.helpers import (
    GREEK_PHONE,
    UK_PHONE,
    add_notice,
    fast_config,
    fine_params,
    notice,
)

OCCURRED = datetime(2026, 11, 26, 13, 57, tzinfo=UTC)

# Each kind as the workflow builds it, and the JSON the workflow stored before the models
# existed (sanctions.py, payments.py, appeals.py): the rows must not change shape.
CASES: list[tuple[NoticeParams, dict[str, Any]]] = [
    (
        FineIssued(
            reference="JW-7Q2K9",
            access_code="K7Q2",
            amount="€50.00",
            points=2,
            due=date(2026, 12, 26),
            offence="πέρασμα με κόκκινο",
            place="Λεωφόρος Συγγρού / Φιξ",
            occurred=OCCURRED,
        ),
        fine_params(),
    ),
    (
        PaymentReceived(reference="JW-1", amount="£60.00"),
        {"reference": "JW-1", "amount": "£60.00"},
    ),
    (AppealReceived(reference="JW-1", appeal=7), {"reference": "JW-1", "appeal": 7}),
    (
        AppealUpheld(reference="JW-1", note="Signal fault", level=1, points_restored=3),
        {"reference": "JW-1", "note": "Signal fault", "level": 1, "points_restored": 3},
    ),
    (
        AppealDenied(reference="JW-1", note="Clear footage", level=2, due=date(2027, 1, 9)),
        {"reference": "JW-1", "note": "Clear footage", "level": 2, "due": "2027-01-09"},
    ),
]


def test_every_kind_has_a_model_and_a_case() -> None:
    assert set(MODELS) == set(NoticeKind) == {p.kind for p, _ in CASES}


@pytest.mark.parametrize(("params", "stored"), CASES, ids=[p.kind.value for p, _ in CASES])
def test_each_kind_round_trips_through_the_outbox_row(
    sessions: sessionmaker[Session], params: NoticeParams, stored: dict[str, Any]
) -> None:
    nid = add_notice(sessions, UK_PHONE, kind="payment_received", params={"reference": "x"})
    with sessions.begin() as s:
        person_id = notice(sessions, nid).person_id
        row = queue_notice(s, params, person_id=person_id, fine_id=None, created=OCCURRED)
        s.flush()
        new_id = row.id
    n = notice(sessions, new_id)
    assert n.kind == params.kind.value
    assert n.params == stored  # the same JSON as before: old rows and new rows alike
    assert parse_params(n.kind, n.params) == params
    for phone in (UK_PHONE, GREEK_PHONE):  # every shipped template words it
        text = render(fast_config(), parse_params(n.kind, n.params), phone).text
        assert "JW-" in text and "{" not in text


def test_a_missing_param_is_refused_where_the_notice_is_made_naming_kind_and_field() -> None:
    with pytest.raises(ValidationError, match=r"for notice fine_issued\npoints\n  Field required"):
        FineIssued(  # type: ignore[call-arg]
            reference="JW-1",
            access_code="K",
            amount="€1",
            due=date(2026, 1, 1),
            offence="o",
            place="p",
            occurred=OCCURRED,
        )
    with pytest.raises(ValidationError, match=r"for notice appeal_denied\ndue\n  Field required"):
        AppealDenied(reference="JW-1", note="n", level=1)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"points": "2"}, "points"),  # a string where a number belongs: a bug at the caller
        ({"points": -1}, "points"),
        ({"occurred": datetime(2026, 11, 26, 13, 57)}, "occurred"),  # naive: which zone?
        ({"reference": ""}, "reference"),
        ({"colour": "red"}, "colour"),  # a field no template knows
    ],
)
def test_a_wrong_param_is_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    good = CASES[0][0].model_dump()
    with pytest.raises(ValidationError, match=rf"for notice fine_issued\n{field}\n"):
        FineIssued(**{**good, **fields})


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("fine_issued", {**fine_params(), "points": None}, "notice fine_issued: points: "),
        ("payment_received", {"reference": "R"}, "notice payment_received: amount: Field required"),
        ("fine_reminder", {"reference": "R"}, "notice fine_reminder: unknown notice kind"),
        ("appeal_received", ["R", 1], "notice appeal_received: params: not an object"),
    ],
)
def test_a_stored_row_that_does_not_fit_its_kind_is_refused_naming_it(
    kind: str, params: Any, message: str
) -> None:
    with pytest.raises(NoticeParamsError, match=message):
        parse_params(kind, params)


def test_a_corrupt_stored_row_goes_to_paper_and_the_sender_goes_on(
    sessions: sessionmaker[Session],
) -> None:
    before = add_notice(sessions, UK_PHONE)
    broken = {k: v for k, v in fine_params().items() if k != "points"}
    corrupt = add_notice(sessions, UK_PHONE, params=broken)
    unknown = add_notice(sessions, UK_PHONE, kind="fine_reminder", params={"reference": "R"})
    after = add_notice(sessions, GREEK_PHONE, kind="payment_received", params={"reference": "R"})
    after_ok = add_notice(
        sessions, GREEK_PHONE, kind="payment_received", params={"reference": "R", "amount": "€1"}
    )
    stats = NoticeSender(sessions, fast_config(), LogProvider()).run_once()
    assert stats.claimed == 5 and stats.paper == 3 and stats.sent == 2
    assert notice(sessions, before).status == notice(sessions, after_ok).status == "delivered"
    for nid, reason in [
        (corrupt, "no SMS possible: notice fine_issued: points: Field required"),
        (unknown, "no SMS possible: notice fine_reminder: unknown notice kind"),
        (after, "no SMS possible: notice payment_received: amount: Field required"),
    ]:
        n = notice(sessions, nid)
        assert (n.status, n.last_error) == ("paper_required", reason)
    assert notice(sessions, corrupt).params == broken  # left as found, for the operator


def test_a_rendered_fine_notice_keeps_only_the_marker_and_still_parses(
    sessions: sessionmaker[Session],
) -> None:
    nid = add_notice(sessions, UK_PHONE)
    NoticeSender(sessions, fast_config(), LogProvider()).run_once()
    n = notice(sessions, nid)
    expected = {k: v for k, v in fine_params().items() if k != "access_code"}
    assert n.params == {**expected, "access_code_in_text": True}
    parsed = parse_params(n.kind, n.params)
    assert isinstance(parsed, FineIssued) and parsed.access_code is None
