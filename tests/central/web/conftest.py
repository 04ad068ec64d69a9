from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.central.web.world import World, build_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = build_world(f"sqlite:///{tmp_path / 'central.db'}", tmp_path)
    yield w
    w.web.hub.stop()
    w.ctx.close()


@pytest.fixture
def client(world: World) -> TestClient:
    return TestClient(world.app)
