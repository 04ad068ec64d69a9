"""The dashboard's workload shows how often a second reviewer rejected an operator's
first confirmation (four-eyes, review.second_reviewer: weak_matches)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from central.context import Context
from central.workflow import dashboard as dash
from central.workflow import review
from central.workflow.common import SYSTEM, Actor
from central.workflow.users import create_user
from tests.central.helpers import SUPERVISOR
from tests.central.workflow.test_four_eyes import STRONG, WEAK, confirm, context, event


@pytest.fixture
def ctx(db_url: str, tmp_path: Path) -> Iterator[Context]:
    c = context(db_url, tmp_path)  # the shipped policy: weak matches need a second reviewer
    yield c
    c.close()


def _operator(ctx: Context, name: str) -> Actor:
    with ctx.sessions.begin() as s:
        u = create_user(s, SYSTEM, name, f"{name}-password-123", "operator")
        return Actor(u.username, u.role, u.id)


def test_workload_counts_second_reviewer_rejections(ctx: Context) -> None:
    olive, oscar = _operator(ctx, "olive"), _operator(ctx, "oscar")
    agreed, rejected, waiting = event(ctx, WEAK), event(ctx, WEAK), event(ctx, WEAK)
    for eid in (agreed, rejected, waiting):
        confirm(ctx, olive, eid)  # first confirmations: each waits for a second reviewer
    confirm(ctx, oscar, agreed)
    with ctx.sessions.begin() as s:
        review.dismiss(s, oscar, rejected, "wrong_person")
    confirm(ctx, olive, event(ctx, STRONG))  # no second reviewer needed: not counted
    with ctx.sessions() as s:
        loads = {o.username: o for o in dash.workload(s, SUPERVISOR, dash.parse_period(None, None))}
    assert (loads["olive"].second_reviewed, loads["olive"].second_rejected) == (2, 1)
    assert loads["olive"].disagreement == 0.5
    assert loads["oscar"].second_reviewed == 0
