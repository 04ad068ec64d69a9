"""The shared limiter on SQLite and PostgreSQL: GCRA semantics, exactness when many
threads (and two engines, as two processes would) hit one bucket at once, pruning."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from central.frontdoor.ratelimit import RateLimiter, Rule, bucket_key
from central.store.db import make_engine, migrate
from central.store.models import RateLimit


@pytest.fixture
def engines(db_url: str) -> Iterator[tuple[sa.Engine, sa.Engine]]:
    migrate(db_url)
    a, b = make_engine(db_url), make_engine(db_url)
    yield a, b
    a.dispose()
    b.dispose()


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_burst_then_steady_rate_and_honest_retry_after(
    engines: tuple[sa.Engine, sa.Engine],
) -> None:
    clock = Clock()
    rl = RateLimiter(engines[0], clock=clock)
    rule = Rule("r", limit=3, period_s=30)  # a burst of 3, then one every 10 s
    assert [rl.hit([(rule, "x")]).allowed for _ in range(3)] == [True] * 3
    refused = rl.hit([(rule, "x")])
    assert not refused.allowed and refused.retry_after_s == 10 and refused.refused_by == ("r",)
    assert rl.hit([(rule, "y")]).allowed  # another subject has its own bucket
    clock.t += 9.5
    assert not rl.hit([(rule, "x")]).allowed  # refused attempts did not move the bucket:
    clock.t += 0.5
    assert rl.hit([(rule, "x")]).allowed  # ... so Retry-After was exact
    assert not rl.hit([(rule, "x")]).allowed
    clock.t += 1000
    assert [rl.hit([(rule, "x")]).allowed for _ in range(4)] == [True] * 3 + [False]


def test_one_attempt_charges_every_bucket_and_any_refuses(
    engines: tuple[sa.Engine, sa.Engine],
) -> None:
    rl = RateLimiter(engines[0], clock=Clock())
    account, address = Rule("account", 2, 60), Rule("address", 100, 60)
    v = [rl.hit([(account, "ada"), (address, "1.2.3.4")]) for _ in range(3)]
    assert [x.allowed for x in v] == [True, True, False]
    assert v[2].refused_by == ("account",)


def test_many_threads_on_two_engines_get_exactly_the_limit(
    engines: tuple[sa.Engine, sa.Engine],
) -> None:
    """As two central processes would: 60 attempts at once on one bucket of 25."""
    clock = Clock()
    limiters = [RateLimiter(e, clock=clock) for e in engines]
    rule = Rule("r", limit=25, period_s=3600)
    with ThreadPoolExecutor(12) as pool:
        got = list(pool.map(lambda i: limiters[i % 2].hit([(rule, "ada")]).allowed, range(60)))
    assert sum(got) == 25


def test_full_buckets_are_pruned_and_keys_are_hashes(
    engines: tuple[sa.Engine, sa.Engine],
) -> None:
    clock = Clock()
    rl = RateLimiter(engines[0], clock=clock, prune_every_s=3600)
    rule = Rule("r", limit=2, period_s=10)
    for who in ("alice", "1.2.3.4", "\udc80 lone surrogate", "x" * 10_000):
        assert rl.hit([(rule, who)]).allowed
    with engines[0].connect() as c:
        keys = set(c.execute(sa.select(RateLimit.key)).scalars())
    assert keys == {
        bucket_key(rule, w) for w in ("alice", "1.2.3.4", "\udc80 lone surrogate", "x" * 10_000)
    }
    assert all(len(k) == 64 for k in keys)  # sha256: no name or address in the table
    clock.t += 4  # tat = t0 + 5 s: not yet full again
    assert rl.prune() == 0
    clock.t += 2
    assert rl.prune() == 4
    with engines[0].connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(RateLimit)).scalar_one() == 0
