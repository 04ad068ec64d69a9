"""The argon2 pool: right answers, a bounded queue, Busy (→ 503) beyond it."""

from __future__ import annotations

import asyncio

import pytest

from central.frontdoor.passwords import Busy, PasswordChecks
from central.workflow.users import _hasher


def test_checks_give_the_right_answers() -> None:
    good = _hasher.hash("right password")
    pool = PasswordChecks(concurrency=2, max_waiting=4)

    async def main() -> list[bool]:
        return list(
            await asyncio.gather(
                pool.verify(good, "right password"),
                pool.verify(good, "wrong password"),
                pool.verify(None, "right password"),  # no such user: the dummy hash
            )
        )

    try:
        assert asyncio.run(main()) == [True, False, False]
    finally:
        pool.close()


def test_beyond_the_queue_a_check_is_refused_at_once() -> None:
    """1 running + 1 waiting allowed: of 4 at once, 2 are checked and 2 get Busy."""
    h = _hasher.hash("x")
    pool = PasswordChecks(concurrency=1, max_waiting=1)

    async def one() -> str:
        try:
            return str(await pool.verify(h, "y"))
        except Busy:
            return "busy"

    async def main() -> list[str]:
        return list(await asyncio.gather(*(one() for _ in range(4))))

    try:
        got = asyncio.run(main())
    finally:
        pool.close()
    assert sorted(got) == ["False", "False", "busy", "busy"]
    # and the queue drains: a later check runs again
    pool2 = PasswordChecks(concurrency=1, max_waiting=0)
    try:
        assert asyncio.run(pool2.verify(h, "x")) is True
        assert asyncio.run(pool2.verify(h, "x")) is True
    finally:
        pool2.close()


@pytest.mark.parametrize("bad", [None, "not an argon2 hash"])
def test_a_missing_or_broken_hash_is_a_failed_check(bad: str | None) -> None:
    pool = PasswordChecks(concurrency=1, max_waiting=0)
    try:
        assert asyncio.run(pool.verify(bad, "anything")) is False
    finally:
        pool.close()
