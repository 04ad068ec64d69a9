"""The pages on central's real API app (create_app mounts them): both work, each keeps
its own error format."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from central.api.app import create_app
from central.web import mount_web
from tests.central.web.util import confirm, csrf_of, login
from tests.central.web.world import PASSWORDS, build_world


def test_pages_on_the_api_app(tmp_path: Path) -> None:
    w = build_world(f"sqlite:///{tmp_path / 'c.db'}", tmp_path)
    try:
        app = create_app(w.ctx)  # mounts the pages itself
        assert mount_web(app, w.ctx) is app.state.jaywatch_web  # idempotent
        c = TestClient(app)
        eid = w.ingest()
        login(c, "olive")
        ref = confirm(c, eid)
        assert c.get("/display/gw-main/feed.json").json()["items"][0]["fine"] == "EUR 30.00"
        assert c.get("/web/static/app.css").status_code == 200
        # A domain refusal: an HTML page on the console, JSON on the API.
        page = c.post(f"/console/events/{eid}/dismiss", data={"reason": "other", "csrf_token": "x"})
        assert page.status_code == 403
        api = TestClient(app)
        tok = api.post(
            "/api/auth/login", json={"username": "olive", "password": PASSWORDS["olive"][1]}
        ).json()["token"]
        r = api.post(f"/api/events/{eid}/confirm", headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 409 and r.headers["content-type"] == "application/json"
        assert "confirmed" in r.json()["detail"]
        # The same refusal through the console renders the error page.
        page = c.get(f"/console/events/{eid}")
        r = c.post(f"/console/events/{eid}/confirm", data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 409 and "text/html" in r.headers["content-type"]
        assert "Cannot do that" in r.text and ref not in r.text
        # The pages stay out of the API's OpenAPI document.
        paths = app.openapi()["paths"]
        assert not [p for p in paths if p.startswith(("/console", "/display", "/notice"))]
    finally:
        w.web.hub.stop()
        w.ctx.close()
