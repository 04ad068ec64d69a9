"""``/api/docs`` of a real ``jaywatch central serve`` renders offline: every request that
is not to the server itself is blocked, and the operations list still appears."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.test_web_flow import shot
from tests.central.frontdoor.serve import Serve, example_config
from tests.services import Broker

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_api_docs_render_with_every_external_request_blocked(
    browser: Any, broker: Broker, tmp_path: Path, shots: Path
) -> None:
    cfg = example_config(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", broker, {}, "central-docs")
    with Serve(cfg, tmp_path / "serve.log", ["--no-ingest"]) as srv:
        local = urlsplit(srv.url).netloc
        seen: list[str] = []
        blocked: list[str] = []

        def route(r: Any) -> None:
            seen.append(r.request.url)
            if urlsplit(r.request.url).netloc == local:
                r.continue_()
            else:  # a CDN, fonts, anything: the site network is offline
                blocked.append(r.request.url)
                r.abort()

        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.route("**/*", route)
            page.goto(srv.url + "/api/docs")
            # Swagger UI has rendered the spec: one block per operation, with its path.
            page.wait_for_selector(".opblock", timeout=20_000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            assert any(p.startswith("/api/") for p in paths), paths
            assert len(paths) >= 10, paths
            assert "/api/auth/login" in " ".join(paths)
            shot(page, shots, "api_docs_offline")
        finally:
            page.close()
    assert blocked == [], blocked
    assert any("/api/docs/assets/swagger-ui-bundle.js" in u for u in seen), seen
    assert any(u.endswith("/api/openapi.json") for u in seen), seen
