"""BodyLimitMiddleware on its own: the route table (longest glob wins) and what an
application sees when a body passes the limit (``central serve`` tests cover the wire)."""

from __future__ import annotations

import asyncio
from typing import Any

from central.config import DEFAULT_BODY_LIMITS, HttpSettings
from central.frontdoor.bodylimit import BodyLimitMiddleware


def test_the_longest_matching_pattern_wins() -> None:
    limits = HttpSettings(body_limits={"/api/*": 2048}).route_body_limits()
    m = BodyLimitMiddleware(lambda *_: None, 1 << 20, limits)  # type: ignore[arg-type]
    assert m.limit_for("/api/auth/login") == DEFAULT_BODY_LIMITS["/api/auth/login"]
    assert m.limit_for("/api/persons/p-1/photos") == DEFAULT_BODY_LIMITS["/api/persons/*/photos"]
    assert m.limit_for("/api/persons") == 2048
    assert m.limit_for("/notice/appeal") == DEFAULT_BODY_LIMITS["/notice*"]
    assert m.limit_for("/console/queue") == 1 << 20


def run(app: Any, limit: int, chunks: list[bytes], headers: list[Any] | None = None) -> list[Any]:
    sent: list[Any] = []
    queue = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> Any:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(m: Any) -> None:
        sent.append(m)

    scope = {"type": "http", "path": "/x", "headers": headers or []}
    asyncio.run(BodyLimitMiddleware(app, limit, {})(scope, receive, send))
    return sent


async def reading_app(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body, swallows any error (as FastAPI's body parsing turns one into
    a 400), and answers 200/400: the middleware must still answer 413, once."""
    try:
        while (await receive()).get("more_body"):
            pass
        status = 200
    except Exception:
        status = 400
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"app"})


def test_a_body_over_the_limit_is_413_whatever_the_app_does() -> None:
    sent = run(reading_app, 2048, [b"a" * 1024] * 3)
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [413]
    assert b"larger than 2048 bytes" in sent[-1]["body"]


def test_a_body_at_the_limit_reaches_the_app() -> None:
    sent = run(reading_app, 2048, [b"a" * 1024] * 2)
    assert sent[0]["status"] == 200 and sent[-1]["body"] == b"app"


def test_declared_lengths_over_the_limit_or_malformed_are_refused_unread() -> None:
    def never(*_: Any) -> None:
        raise AssertionError("the app must not run")

    sent = run(never, 2048, [b""], [(b"content-length", b"999999")])
    assert sent[0]["status"] == 413
    sent = run(never, 2048, [b""], [(b"content-length", b"12"), (b"content-length", b"13")])
    assert sent[0]["status"] == 400
