from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from central.store.db import open_db


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """A migrated database (SQLite and PostgreSQL) for this test; engine disposed after."""
    engine, factory = open_db(db_url)
    yield factory
    engine.dispose()
