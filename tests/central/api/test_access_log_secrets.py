"""No secret in central's access log: the gallery download token (a capability URL for
every enrolled face) and codes or tokens a client puts in a query string are redacted
from uvicorn's access lines, through the real `jaywatch central serve`, whose log is
captured. The requests themselves still work (the download answers 200)."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest

from central.api.logfilter import redact_path
from central.store.models import GalleryVersion
from tests.integration.central_serve import CentralServe


@pytest.mark.broker
@pytest.mark.timeout(120)
def test_tokens_and_codes_never_reach_the_access_log(tmp_path: Path, broker) -> None:  # type: ignore[no-untyped-def]
    central = CentralServe(tmp_path / "central", broker, f"sqlite:///{tmp_path / 'c.db'}")
    token = secrets.token_urlsafe(32)
    ctx = central.context()
    try:
        sha = ctx.evidence.put(b"a gallery snapshot")
        with ctx.sessions.begin() as s:
            s.add(
                GalleryVersion(
                    version=7,
                    reason="upload",
                    person_ids_sha256="a" * 64,
                    snapshot_sha256=sha,
                    download_token=token,
                )
            )
    finally:
        ctx.close()
    central.start()
    try:
        ok = httpx.get(f"{central.url}/api/gallery/7/{token}", timeout=10)
        assert ok.status_code == 200 and ok.content == b"a gallery snapshot"
        wrong = secrets.token_urlsafe(32)
        assert httpx.get(f"{central.url}/api/gallery/7/{wrong}", timeout=10).status_code == 404
        code = "CODE" + secrets.token_hex(6)
        httpx.get(f"{central.url}/notice?ref=JW-AAAA-BBBB&code={code}", timeout=10)
        httpx.get(f"{central.url}/api/health?token={token}&x=1", timeout=10)
    finally:
        central.stop()
    log = (tmp_path / "central" / "central.log").read_text()
    assert '"GET /api/gallery/7/[redacted] HTTP/1.1" 200' in log  # the line is there ...
    assert '"GET /api/gallery/7/[redacted] HTTP/1.1" 404' in log
    assert "code=[redacted]" in log and "x=1" in log
    for secret in (token, wrong, code):  # ... the secrets are not
        assert secret not in log


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/api/gallery/3/tok", "/api/gallery/3/[redacted]"),
        ("/api/gallery/3/tok?a=b", "/api/gallery/3/[redacted]?a=b"),
        ("/notice?ref=R&code=C", "/notice?ref=R&code=[redacted]"),
        ("/x?Token=T", "/x?Token=[redacted]"),
        ("/console/events/e1", "/console/events/e1"),
        ("/a?b=1&b=2", "/a?b=1&b=2"),
    ],
)
def test_redact_path(path: str, logged: str) -> None:
    assert redact_path(path) == logged
