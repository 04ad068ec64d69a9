from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.central.web.world import World, build_world


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    """SQLite and PostgreSQL (``db_url`` from tests/conftest.py)."""
    w = build_world(db_url, tmp_path)
    yield w
    w.web.hub.stop()
    w.ctx.close()


@pytest.fixture
def client(world: World) -> TestClient:
    return TestClient(world.app)
