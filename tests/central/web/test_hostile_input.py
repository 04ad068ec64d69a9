"""Odd and hostile input to the pages: refused cleanly, never a server error."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.central.web.util import login
from tests.central.web.world import World

HUGE = str(10**30)


def test_no_server_errors_on_odd_input(world: World) -> None:
    client = TestClient(world.app, raise_server_exceptions=False)
    login(client, "sam")
    gets = [
        f"/console/appeals/{HUGE}",
        "/console/appeals/0",
        f"/console/audit?before={HUGE}",
        "/console/dashboard?from=0001-01-01&to=9999-12-31",
        f"/console/events/{'x' * 5000}",
        f"/console/events/{HUGE}/evidence/{HUGE}.jpg",
        "/console/login?next=//evil.example/",
        f"/display/{'é' * 300}",
        "/display/gw-main/image/../../etc/passwd.jpg",
        f"/display/gw-main/image/{HUGE}.jpg",
        "/notice?ref=%00%ff",
    ]
    for path in gets:
        r = client.get(path, follow_redirects=False)
        assert r.status_code < 500, (path, r.status_code)
    posts = [
        ("/notice", {"reference": "\x00" * 10, "code": "' OR 1=1 --"}),
        ("/notice", {"reference": "r" * 65, "code": "c"}),
        ("/notice/appeal", {"reference": "JW-A", "code": "B", "statement": "s" * 6000}),
        ("/notice/pay", {"reference": "JW-A", "code": "B"}),
        ("/console/login", {"username": "ü" * 64, "password": "\x00"}),
        ("/console/login", {"username": "sam\x00", "password": "x"}),
        (f"/console/appeals/{HUGE}/decide", {"decision": "uphold", "csrf_token": "x"}),
        ("/console/appeals/1/decide", {"decision": "maybe", "csrf_token": "x"}),
    ]
    for path, data in posts:
        r = client.post(path, data=data, follow_redirects=False)
        assert 400 <= r.status_code < 500, (path, r.status_code)
    # A login redirect never leaves the site.
    r = client.post(
        "/console/login",
        data={"username": "sam", "password": "sam-pass-456", "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/console"
