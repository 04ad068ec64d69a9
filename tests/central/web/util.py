from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.central.web.world import PASSWORDS


def login(client: TestClient, username: str) -> None:
    r = client.post(
        "/console/login",
        data={"username": username, "password": PASSWORDS[username][1]},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def confirm(client: TestClient, event_id: str) -> str:
    """Confirm as the logged-in operator; returns the fine reference."""
    page = client.get(f"/console/events/{event_id}")
    assert page.status_code == 200
    r = client.post(f"/console/events/{event_id}/confirm", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 200, r.text
    m = re.search(r"fine (JW-[A-Z0-9]{4}-[A-Z0-9]{4}) issued", r.text)
    assert m, r.text
    return m.group(1)
