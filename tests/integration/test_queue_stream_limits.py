"""The queue's live push (``GET /api/queue/stream``, ``/console/queue/stream``) against a
careless or hostile client, through ``jaywatch central serve`` (config/central.example.yaml)
on SQLite and PostgreSQL: one account cannot hold the server's streams (429 past its cap,
naming the account and the limit, while others and /api/health go on), a logged-out
session's streams end within seconds rather than after the stream's 10 minutes, and a
Last-Event-ID of any shape is either refused by name (API) or taken as unknown."""

from __future__ import annotations

import queue as stdqueue
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from central.workflow import queue_stream as qs
from jaywatch import wire
from tests.integration.central_serve import CentralServe, acl_broker, wait_until
from tests.integration.test_queue_serve import ApiStream, Stream
from tests.services import Broker

pytestmark = [pytest.mark.broker]


@pytest.fixture
def serve(
    db_url: str, make_broker: Callable[..., Broker], tmp_path: Path
) -> Iterator[CentralServe]:
    broker = acl_broker(make_broker, ["gw-s"])
    cs = CentralServe(tmp_path / "c", broker, db_url)
    cs.setup(
        {"gw-s": wire.generate_device_key()},
        {"olive": "operator", "sam": "supervisor", "aud": "auditor"},
    )
    cs.start()
    yield cs
    cs.stop()


def test_one_account_cannot_hold_every_stream(serve: CentralServe) -> None:
    olive = serve.bearer("olive")
    streams = [ApiStream(serve.url, olive) for _ in range(qs.PER_ACCOUNT)]
    try:
        assert all(s.first[0] == "ready" for s in streams)
        r = httpx.get(f"{serve.url}/api/queue/stream", headers=olive, timeout=30)
        assert r.status_code == 429, r.text
        detail = r.json()["detail"]
        assert "olive" in detail and f"the limit is {qs.PER_ACCOUNT}" in detail
        assert r.headers["retry-after"] == "60"
        # the console counts against the same account
        console = serve.console("olive")
        r = console.get("/console/queue/stream")
        assert r.status_code == 429 and "olive" in r.text
        # another account, and the server's health, are not affected
        other = ApiStream(serve.url, serve.bearer("sam"))
        assert other.first[0] == "ready"
        other.close()
        h = serve.health()
        assert h.status_code == 200 and h.json()["healthy"] is True
        assert "queue stream refused for operator:olive" in serve.log()
    finally:
        for s in streams:
            s.close()

    # the places are given back when the clients go (the server notices within a poll)
    def reopened() -> bool:
        with (
            httpx.Client(timeout=30) as c,
            c.stream("GET", f"{serve.url}/api/queue/stream", headers=olive) as r,
        ):
            return r.status_code == 200

    wait_until(reopened, 45, "olive's streams to be released")


def _api_events(url: str, headers: dict[str, str]) -> ApiStream:
    s = ApiStream(url, headers)
    assert s.first[0] == "ready"
    return s


def test_a_logged_out_session_stops_receiving(serve: CentralServe) -> None:
    """Before: the stream went on for up to 10 min after the logout (counts kept coming)."""
    sam = serve.bearer("sam")
    stream = _api_events(serve.url, sam)
    kept = _api_events(serve.url, serve.bearer("sam"))  # the same person's other session
    try:
        r = httpx.post(f"{serve.url}/api/auth/logout", headers=sam, timeout=30)
        assert r.status_code == 204
        name, _id, data = stream.next(timeout=15)
        assert name == "end" and "log in again" in data["reason"]
        with pytest.raises(stdqueue.Empty):
            kept.next(timeout=4)  # four polls: still open, nothing to say
        assert (
            httpx.get(f"{serve.url}/api/queue/stream", headers=sam, timeout=30).status_code == 401
        )
    finally:
        stream.close()
        kept.close()
    # the console's stream ends the same way when its login is logged out
    console = serve.console("sam")
    page = console.get("/console/queue")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    events = Stream(console, "/console/queue/stream")
    try:
        with httpx.Client(base_url=serve.url, cookies=console.cookies, timeout=30) as other:
            r = other.post("/console/logout", data={"csrf_token": csrf.group(1)})
        assert r.status_code == 303
        assert events.next(timeout=15) == "end"
    finally:
        events.close()
    assert serve.health().json()["healthy"] is True


@pytest.mark.parametrize(
    "last_id",
    ["-1", "99999999999999999999999999", "not a number", "' OR 1=1 --", "\u00e9\u00e9", "x" * 64],
)
def test_any_last_event_id_is_an_unknown_id(serve: CentralServe, last_id: str) -> None:
    """Not an id this server sent: ``queue`` follows ``ready`` (the client re-reads)."""
    headers = {**serve.bearer("olive"), "Last-Event-ID": last_id.encode()}  # raw UTF-8 bytes
    s = ApiStream(serve.url, headers)
    try:
        assert s.first[0] == "ready"
        assert s.next(timeout=10)[0] == "queue"
    finally:
        s.close()


def test_an_oversized_last_event_id(serve: CentralServe) -> None:
    """API: refused naming the header; console (EventSource sends it back as given):
    taken as unknown, nothing echoed."""
    olive = serve.bearer("olive")
    r = httpx.get(
        f"{serve.url}/api/queue/stream",
        headers={**olive, "Last-Event-ID": "7" * 65},
        timeout=30,
    )
    assert r.status_code == 422 and "last-event-id" in r.text.lower()
    console = serve.console("olive")
    huge = "A" * 16_000
    with console.stream(
        "GET", "/console/queue/stream", headers={"Last-Event-ID": huge}, timeout=30
    ) as resp:
        assert resp.status_code == 200
        lines = resp.iter_lines()
        got = [next(lines) for _ in range(9)]
    assert "event: ready" in got and "event: queue" in got
    assert not any(huge[:100] in line for line in got)
    assert serve.health().status_code == 200
