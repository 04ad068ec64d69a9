"""Shared fixtures: real mosquitto brokers and real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.services import Broker, fresh_pg_database, pg_admin_url

REPO = Path(__file__).resolve().parents[1]

# Tests never assert timings: no per-example deadline (a loaded 2-core CI machine is slow).
settings.register_profile(
    "jaywatch", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False
)
settings.load_profile("jaywatch")


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Factory: ``make_broker(passwords=..., acl=..., tls=..., extra=...)`` → started Broker."""
    brokers: list[Broker] = []

    def make(**kw: object) -> Broker:
        b = Broker(workdir=tmp_path / f"broker{len(brokers)}", **kw).start()  # type: ignore[arg-type]
        brokers.append(b)
        return b

    yield make
    for b in brokers:
        b.stop()


@pytest.fixture
def broker(make_broker: Callable[..., Broker]) -> Broker:
    """A plain, anonymous mosquitto on a free port, just for this test."""
    return make_broker()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test (dropped afterwards)."""
    with fresh_pg_database(pg_admin_url()) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test against SQLite (file, WAL) and PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jaywatch.db'}"
    else:
        with fresh_pg_database(pg_admin_url()) as url:
            yield url
