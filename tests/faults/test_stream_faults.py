"""2,000 signed events from a real edge publisher process (durable Outbox + MqttLink)
through mosquitto (passwords + shipped ACL) to central's real ingest process, while:
the broker is restarted twice, central is killed -9 and restarted, and the edge is
killed -9 and restarted. Afterwards every event is stored exactly once, and confirming
every match then running the SMS sender (twice) issues one fine and one SMS per match.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from central.notices.models import NoticeDelivery
from central.store.models import Event, Evidence, Fine, Notice
from central.workflow import review
from central.workflow.common import Conflict
from tests.central.helpers import OPERATOR
from tests.faults.helpers import (
    REPO,
    Rig,
    expected_ids,
    fault_broker,
    read_puts,
    wait_until,
)
from tests.faults.publisher import is_matched

pytestmark = [pytest.mark.broker, pytest.mark.slow]

N = 2000
MATCH_EVERY = 50


def _central_connected(rig: Rig, times: int) -> bool:
    log = rig.tmp / "central.log"
    return log.exists() and log.read_text().count("connected (generation") >= times


def _send_notices(rig: Rig) -> str:
    """One pass of the real SMS sender (log-only provider); returns its log."""
    out = subprocess.run(
        [sys.executable, "-m", "central.notices.cli", "send", "--once",
         "--config", str(rig.central_yaml)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stderr


@pytest.mark.timeout(180)
def test_2000_events_through_broker_restarts_and_kill9s_stored_once(
    make_broker, tmp_path: Path
) -> None:
    broker = fault_broker(make_broker)
    rig = Rig(tmp_path, broker, f"sqlite:///{tmp_path / 'central.db'}")
    try:
        rig.start_central()
        wait_until(lambda: _central_connected(rig, 1), 30, "central ingest connected")
        # ~12 s of production at ~160 events/s: every fault lands mid-stream.
        pub = rig.start_publisher(0, N, "--interval", "0.006", "--match-every", str(MATCH_EVERY))
        durable = read_puts(pub, until=300)

        broker.restart(down_s=0.5)  # restart 1
        durable += read_puts(pub, until=400)
        wait_until(lambda: rig.stored() >= 400, 30, "ingest to resume after the broker")

        central = rig.procs[0]
        rig.kill9(central)  # central killed -9 during ingest
        assert rig.stored() < N
        durable += read_puts(pub, until=100)
        rig.start_central()
        durable += read_puts(pub, until=300)

        broker.restart(down_s=0.5)  # restart 2
        durable += read_puts(pub, until=300)

        rig.kill9(pub)  # edge killed -9 mid-stream
        durable += read_puts(pub)  # what it printed before dying
        assert durable == list(range(len(durable))), "puts are reported in order"
        assert len(durable) < N, "the edge died before producing everything"
        pub = rig.start_publisher(len(durable), N, "--match-every", str(MATCH_EVERY))
        out, _ = pub.communicate(timeout=120)
        assert pub.returncode == 0 and "DRAINED" in out

        wait_until(lambda: rig.stored() == N, 60, f"central to hold {N} events")
        ids = rig.event_ids()
        assert len(ids) == N and set(ids) == expected_ids(N)  # each exactly once
        assert rig.scalar(sa.select(sa.func.count()).select_from(Evidence)) == N
        assert "connected (generation" in (tmp_path / "central.log").read_text()

        # A person confirms every match: one fine each; a second confirm is refused.
        matched = sum(is_matched(i, MATCH_EVERY) for i in range(N))
        ctx = rig.context()
        try:
            with ctx.sessions() as s:
                pending = list(
                    s.execute(
                        sa.select(Event.event_id).where(Event.status == "pending_review")
                    ).scalars()
                )
            assert len(pending) == matched
            for eid in pending:
                with ctx.sessions.begin() as s:
                    review.confirm(s, OPERATOR, ctx.rules, eid)
            with pytest.raises(Conflict), ctx.sessions.begin() as s:
                review.confirm(s, OPERATOR, ctx.rules, pending[0])
        finally:
            ctx.close()

        logs = _send_notices(rig) + _send_notices(rig)  # a second pass sends nothing new
        assert logs.count("SMS to ") == matched
        assert rig.scalar(sa.select(sa.func.count()).select_from(Fine)) == matched
        assert rig.scalar(sa.select(sa.func.count()).select_from(Notice)) == matched
        sent = sa.select(sa.func.count()).select_from(NoticeDelivery)
        assert rig.scalar(sent.where(NoticeDelivery.submitted_at.is_not(None))) == matched
    finally:
        rig.close()
