"""Builders for notice tests: a migrated database with persons and outbox rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from central.notices.config import NoticesConfig, RetrySettings
from central.store.db import open_db
from central.store.models import Notice, Person

GREEK_PHONE = "+306912345678"
UK_PHONE = "+447911123456"


def open_sessions(db_url: str) -> sessionmaker[Session]:
    _engine, sessions = open_db(db_url)
    return sessions


def fine_params(reference: str = "JW-7Q2K9") -> dict[str, Any]:
    return {
        "reference": reference,
        "access_code": "K7Q2",
        "amount": "€50.00",
        "points": 2,
        "due": "2026-12-26",
        "offence": "πέρασμα με κόκκινο",
        "place": "Λεωφόρος Συγγρού / Φιξ",
        "occurred": datetime(2026, 11, 26, 13, 57, tzinfo=UTC).isoformat(),
    }


def add_notice(
    sessions: sessionmaker[Session],
    phone: str | None,
    kind: str = "fine_issued",
    params: dict[str, Any] | None = None,
) -> int:
    """A person with ``phone`` and one pending notice for them (as the workflow writes it)."""
    with sessions.begin() as s:
        p = Person(id=str(uuid.uuid4()), name="Test Person", phone=phone, lawful_basis="test")
        s.add(p)
        s.flush()
        n = Notice(person_id=p.id, kind=kind, params=params or fine_params(), status="pending")
        s.add(n)
        s.flush()
        return n.id


def notice(sessions: sessionmaker[Session], notice_id: int) -> Notice:
    with sessions() as s:
        n = s.get(Notice, notice_id)
        assert n is not None
        return n


def fast_config(**kw: Any) -> NoticesConfig:
    """The example templates with retries that do not wait (tests never sleep on back-off)."""
    from central.notices.config import load_notices_config
    from tests.conftest import REPO

    base = load_notices_config(REPO / "config" / "notices.example.yaml")
    retry = RetrySettings(**{"backoff_base_s": 0.0, "backoff_max_s": 0.0, **kw.pop("retry", {})})
    return base.model_copy(update={"retry": retry, **kw})


def statuses(sessions: sessionmaker[Session], **kw: Any) -> list[Any]:
    """``notice_statuses`` in a session that is closed afterwards."""
    from central.notices.status import notice_statuses

    with sessions() as s:
        return notice_statuses(s, **kw)


def counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    from central.notices.status import status_counts

    with sessions() as s:
        return status_counts(s)
