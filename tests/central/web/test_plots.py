"""Dashboard numbers: counted from real decisions through the workflow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from central.plots import stats
from central.workflow.review import confirm, dismiss
from tests.central.helpers import OPERATOR
from tests.central.web.world import World


def test_stats_follow_the_decisions(world: World) -> None:
    now = datetime.now(UTC)
    a = world.ingest(score=0.9, occurred=now - timedelta(hours=2), camera_id="cam-1")
    b = world.ingest(score=0.8, occurred=now - timedelta(hours=2), camera_id="cam-1")
    c = world.ingest(score=0.4, occurred=now - timedelta(hours=1), camera_id="cam-2")
    d = world.ingest(score=0.7, occurred=now - timedelta(hours=1), camera_id="cam-2")
    world.ingest(score=0.6, camera_id="cam-2")  # still waiting
    with world.ctx.sessions.begin() as s:
        confirm(s, OPERATOR, world.ctx.rules, a)
        confirm(s, OPERATOR, world.ctx.rules, b)
        dismiss(s, OPERATOR, c, "wrong_person")
        confirm(s, OPERATOR, world.ctx.rules, d)
    with world.ctx.sessions() as s:
        hourly = stats.per_hour(s, days=1)
        share = stats.rejected_share(s, days=2)
        scores = stats.match_scores(s, days=1)
        numbers = stats.summary(s)
    assert {k: int(v.sum()) for k, v in hourly.by_camera.items()} == {
        "gw-main/cam-1": 2,
        "gw-main/cam-2": 1,
    }
    assert len(hourly.edges) == 24
    # Both cam-1 confirmations fall in the same hour bin.
    assert int(hourly.by_camera["gw-main/cam-1"].max()) == 2
    assert np.nanmax(share.by_camera["gw-main/cam-1"]) == 0.0
    assert np.nanmax(share.by_camera["gw-main/cam-2"]) == 0.5
    assert sorted(scores["confirmed"].tolist()) == [0.7, 0.8, 0.9]
    assert scores["dismissed"].tolist() == [0.4]
    assert scores["pending_review"].tolist() == [0.6]
    assert numbers == {
        "pending": 1,
        "confirmed": 3,
        "dismissed": 1,
        "unidentified": 0,
        "appeals_pending": 0,
    }
