"""The review queue through the shipped process: two ``jaywatch central serve`` (config/
central.example.yaml) on one database, SQLite and PostgreSQL, a real mosquitto with the
shipped ACL. A claim taken through one process holds in the other; the live refresh (SSE)
of one process reports a decision taken in the other and an event stored by ingest."""

from __future__ import annotations

import json
import queue as stdqueue
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from central.workflow.persons import enrol
from jaywatch import wire
from tests.central.helpers import SUPERVISOR, violation
from tests.integration.central_serve import CentralServe, Gateway, acl_broker, wait_until
from tests.services import Broker

pytestmark = [pytest.mark.broker]
GW = "gw-q"
PERSON = "2b7c0f7e-6f43-4a55-9b1e-6a3c2d1e0f11"


@pytest.fixture
def pair(
    db_url: str, make_broker: Callable[..., Broker], tmp_path: Path
) -> Iterator[tuple[CentralServe, CentralServe, Gateway, Any]]:
    key = wire.generate_device_key()
    broker = acl_broker(make_broker, [GW])
    # about claims: one confirmation issues the fine at once (four-eyes and the undo
    # window through serve: tests/integration/test_four_eyes_serve.py)
    one_reviewer = {"review": {"second_reviewer": "never", "undo_window_s": 0}}
    one = CentralServe(tmp_path / "one", broker, db_url, overrides=one_reviewer)
    one.setup(
        {GW: key},
        {"olive": "operator", "otto": "operator", "sam": "supervisor", "aud": "auditor"},
    )
    ctx = one.context()
    with ctx.sessions.begin() as s:
        enrol(s, SUPERVISOR, ctx.rules, "+447911123456", "test", "Pat", PERSON)
    ctx.close()
    two = CentralServe(tmp_path / "two", broker, db_url, overrides=one_reviewer)
    cfg = yaml.safe_load(two.config.read_text())  # one deployment: one evidence store
    cfg["evidence_dir"] = str(tmp_path / "one" / "evidence")
    cfg["mqtt"]["client_id"] = "central-2"  # unique per serve process (the shipped comment)
    two.config.write_text(yaml.safe_dump(cfg))
    one.start()
    two.start()
    gw = Gateway(broker, GW)
    yield one, two, gw, key
    gw.close()
    two.stop()
    one.stop()


def _send(gw: Gateway, key: Any, n: int) -> list[str]:
    evs = [violation(key, device_id=GW, person_id=PERSON) for _ in range(n)]
    for ev in evs:
        gw.publish("violation", ev.model_dump_json())
    ids = [e.event_id for e in evs]
    wait_until(
        lambda: all((a := gw.ack_for(i)) is not None and a.status == "stored" for i in ids),
        60, "events stored",
    )  # fmt: skip
    return ids


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


class Stream:
    """An SSE client in a thread: the event names it receives."""

    def __init__(self, client: httpx.Client, path: str) -> None:
        self.events: stdqueue.Queue[str] = stdqueue.Queue()
        self.open = threading.Event()
        self._stop = False
        self._t = threading.Thread(target=self._run, args=(client, path), daemon=True)
        self._t.start()
        assert self.open.wait(30), "stream did not open"

    def _run(self, client: httpx.Client, path: str) -> None:
        with client.stream("GET", path, timeout=httpx.Timeout(30, read=60)) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith(
                "text/event-stream"
            )
            for line in r.iter_lines():
                if self._stop:
                    return
                if line == "event: ready":  # sent once the server has its baseline
                    self.open.set()
                elif line.startswith("event: "):
                    self.events.put(line[7:])

    def next(self, timeout: float = 30) -> str:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self._stop = True


def test_claims_hold_across_two_serve_processes_and_sse_reports_changes(pair: Any) -> None:
    one, two, gw, key = pair
    a, b = _send(gw, key, 2)
    olive, otto, sam = one.console("olive"), two.console("otto"), two.console("sam")
    try:
        stream = Stream(sam, "/console/queue/stream")
        mine = olive.get(f"/console/events/{a}")
        assert mine.status_code == 200 and "You are reviewing this case" in mine.text
        assert stream.next() == "queue"  # the claim, seen by the other process
        theirs = otto.get(f"/console/events/{a}")
        assert (
            theirs.status_code == 409 and "Being reviewed by <strong>olive</strong>" in theirs.text
        )
        assert 'href="/console/next"' in theirs.text
        nxt = otto.get("/console/next", follow_redirects=False)
        assert nxt.status_code == 303 and nxt.headers["location"] == f"/console/events/{b}"
        assert "Being reviewed by olive" in sam.get("/console/queue").text
        # The API through the other process: the same claim refuses otto's decision.
        r = httpx.post(f"{two.url}/api/events/{a}/confirm", headers=two.bearer("otto"), timeout=30)
        assert r.status_code == 409 and "olive" in r.json()["detail"]
        while not stream.events.empty():
            stream.events.get_nowait()
        done = olive.post(f"/console/events/{a}/confirm", data={"csrf_token": _csrf(mine.text)})
        assert done.status_code == 303, done.text
        assert stream.next() == "queue"  # the decision in process one, reported by two
        (c,) = _send(gw, key, 1)
        assert stream.next() == "queue"  # a new event stored by ingest
        rows = sam.get("/console/queue/rows")
        assert c in rows.text and a not in rows.text
        hist = httpx.get(
            f"{two.url}/api/queue", params={"status": "decided", "sort": "decided"},
            headers=two.bearer("sam"), timeout=30,
        ).json()  # fmt: skip
        assert [(i["event_id"], i["decided_by"], i["fine_reference"] is not None)
                for i in hist["items"]] == [(a, "olive", True)]  # fmt: skip
        stream.close()
    finally:
        for c_ in (olive, otto, sam):
            c_.close()


class ApiStream:
    """An SSE client of the API (bearer token) in a thread: (event, id, data) triples."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.events: stdqueue.Queue[tuple[str, str, dict[str, Any]]] = stdqueue.Queue()
        self.ready: stdqueue.Queue[tuple[str, str, dict[str, Any]]] = stdqueue.Queue()
        self._stop = False
        self._t = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._t.start()
        self.first = self.ready.get(timeout=30)  # ("ready", id, data)

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            self._read(url, headers)
        except httpx.HTTPError:
            if not self._stop:  # the server went away while the test still listened
                raise

    def _read(self, url: str, headers: dict[str, str]) -> None:
        path = "/api/queue/stream"
        with (
            httpx.Client(base_url=url, timeout=httpx.Timeout(30, read=60)) as c,
            c.stream("GET", path, headers=headers) as r,
        ):
            assert r.status_code == 200, r.read()
            assert r.headers["content-type"].startswith("text/event-stream")
            fields: dict[str, str] = {}
            for line in r.iter_lines():
                if self._stop:
                    return
                if line == "":  # end of one event
                    if "event" in fields:
                        ev = (fields["event"], fields["id"], json.loads(fields["data"]))
                        (self.ready if ev[0] == "ready" else self.events).put(ev)
                    fields = {}
                elif not line.startswith(":") and ": " in line:
                    k, v = line.split(": ", 1)
                    fields[k] = v

    def next(self, timeout: float = 30) -> tuple[str, str, dict[str, Any]]:
        return self.events.get(timeout=timeout)

    def until(self, want: Callable[[dict[str, Any]], bool], timeout: float = 30) -> str:
        """The id of the first ``queue`` event whose data satisfies ``want``."""
        while True:
            name, event_id, data = self.next(timeout)
            assert name == "queue"
            if want(data):
                return event_id

    def close(self) -> None:
        self._stop = True


def test_api_clients_get_the_queue_push_with_their_own_auth(pair: Any) -> None:
    """GET /api/queue/stream: bearer auth and the queue's roles; a claim and a decision
    through the other process arrive as ``queue`` events; Last-Event-ID catches up."""
    one, two, gw, key = pair
    a, _b = _send(gw, key, 2)
    url = f"{two.url}/api/queue/stream"
    assert httpx.get(url, timeout=30).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}, timeout=30).status_code == 401
    assert httpx.get(url, headers=two.bearer("aud"), timeout=30).status_code == 403
    doc = httpx.get(f"{two.url}/api/openapi.json", timeout=30).json()
    assert (
        "text/event-stream"
        in doc["paths"]["/api/queue/stream"]["get"]["responses"]["200"]["content"]
    )
    sam = two.bearer("sam")
    stream = ApiStream(two.url, sam)
    try:
        name, ready_id, data = stream.first
        assert name == "ready" and data == {"waiting": 2, "claims": 0}
        olive = one.bearer("olive")
        r = httpx.post(f"{one.url}/api/events/{a}/claim", headers=olive, timeout=30)
        assert r.status_code == 200, r.text
        name, claim_id, data = stream.next()
        assert name == "queue" and data == {"waiting": 2, "claims": 1} and claim_id != ready_id
        r = httpx.post(f"{one.url}/api/events/{a}/confirm", headers=olive, timeout=30)
        assert r.status_code == 200, r.text
        assert stream.until(lambda d: d == {"waiting": 1, "claims": 0})  # claim settled
        (c,) = _send(gw, key, 1)  # a new event stored by ingest
        last_id = stream.until(lambda d: d["waiting"] == 2)
        items = httpx.get(f"{two.url}/api/queue", headers=sam, timeout=30).json()["items"]
        assert c in [i["event_id"] for i in items] and a not in [i["event_id"] for i in items]
    finally:
        stream.close()
    # Reconnecting with an id from before the changes: told at once, after "ready".
    again = ApiStream(one.url, {**sam, "Last-Event-ID": ready_id})
    try:
        assert again.first[1] == last_id  # the same state seen through either process
        name, event_id, data = again.next(timeout=10)
        assert name == "queue" and event_id == last_id and data["waiting"] == 2
    finally:
        again.close()
    # ... and with the current id: nothing to catch up on.
    current = ApiStream(two.url, {**sam, "Last-Event-ID": last_id})
    try:
        assert current.first[1] == last_id
        with pytest.raises(stdqueue.Empty):
            current.next(timeout=3)  # three polls, nothing changed
    finally:
        current.close()
