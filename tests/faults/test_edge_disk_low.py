"""Disk nearly full on the edge: the outbox's free-space floor is set above what the disk
has, so the gateway runs "low on disk". Its health says so (disk_low, as central stores
it from the heartbeat) and nothing is dropped: every event still reaches central once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from central.store.models import Device
from tests.faults.helpers import DEVICE, Rig, expected_ids, fault_broker, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

N = 200


@pytest.mark.timeout(90)
def test_disk_low_is_reported_and_nothing_is_dropped(make_broker, tmp_path: Path) -> None:
    rig = Rig(tmp_path, fault_broker(make_broker), f"sqlite:///{tmp_path / 'central.db'}")
    try:
        rig.start_central()
        floor = shutil.disk_usage(tmp_path).free + 2**40  # 1 TiB more than there is
        pub = rig.start_publisher(
            0, N, "--interval", "0.005", "--min-free-bytes", str(floor),
            "--health-s", "0.5", "--linger", "2",
        )  # fmt: skip

        def status() -> dict | None:
            return rig.scalar(sa.select(Device.status).where(Device.id == DEVICE))

        wait_until(lambda: (status() or {}).get("disk_low") is True, 30, "disk_low at central")
        st = status()
        assert st is not None and st["online"] and 0 < st["disk_free_bytes"] < floor
        out, _ = pub.communicate(timeout=60)
        assert pub.returncode == 0 and "DRAINED" in out
        wait_until(lambda: rig.stored() == N, 30, f"{N} events at central")
        ids = rig.event_ids()
        assert len(ids) == N and set(ids) == expected_ids(N)
    finally:
        rig.close()
