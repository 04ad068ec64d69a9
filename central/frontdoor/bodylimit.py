"""Request-body limits for every route, enforced while the body streams in.

A pure ASGI middleware counts the bytes each ``http.request`` message brings; the
moment a body passes its route's limit the application's ``receive`` raises, whatever
the application answers is dropped, and the client gets ``413`` with a short body and
``Connection: close`` (so the server stops reading the rest). A declared
``Content-Length`` over the limit is refused before a byte is read, but never trusted:
chunked bodies and lying lengths are counted all the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    """Raised by ``receive`` once the body passed the limit (the middleware answers)."""


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, default: int, routes: Mapping[str, int]) -> None:
        self.app = app
        self.default = default
        # The longest (most specific) pattern first: "/api/persons/*/photos" beats "/api/*".
        self.routes = sorted(routes.items(), key=lambda kv: len(kv[0]), reverse=True)

    def limit_for(self, path: str) -> int:
        for pattern, n in self.routes:
            if fnmatchcase(path, pattern):
                return n
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is None:
            await _refuse(send, 400, "Content-Length: expected one non-negative integer")
            return
        if declared > limit:
            await _refuse(send, 413, f"request body larger than {limit} bytes")
            return

        received = 0
        exceeded = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # e.g. FastAPI's 400 "error parsing the body": ours replaces it
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await _refuse(send, 413, f"request body larger than {limit} bytes")


def _content_length(scope: Scope) -> int | None:
    """The declared length (-1 when none is declared); None when it is not a number."""
    values = [v for k, v in scope.get("headers", []) if k == b"content-length"]
    if not values:
        return -1
    if len(set(values)) != 1 or not values[0].strip().isdigit() or len(values[0]) > 19:
        return None
    return int(values[0])


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the unread rest of the body is not read
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
