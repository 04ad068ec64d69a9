"""Login and notice throttling through the real ``jaywatch central serve``, on SQLite and
PostgreSQL: per account and per address, one budget for API and web pages, shared by two
central processes on one database, and X-Forwarded-For believed only from trusted proxies.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.central.frontdoor.serve import PASSWORD, Serve, add_user, example_config
from tests.services import Broker

pytestmark = pytest.mark.timeout(240)
ROOMY = {"limit": 1000, "period_s": 60}


def api_login(http: httpx.Client, user: str, pw: str, **headers: str) -> httpx.Response:
    return http.post("/api/auth/login", json={"username": user, "password": pw}, headers=headers)


def web_login(http: httpx.Client, user: str, pw: str) -> httpx.Response:
    data = {"username": user, "password": pw, "next": "/console"}
    return http.post("/console/login", data=data, follow_redirects=False)


def test_login_per_account_is_one_budget_for_two_processes_and_both_doors(
    tmp_path: Path, db_url: str, broker: Broker
) -> None:
    """3 attempts per account per minute: after 3 wrong passwords on ``ada`` (spread over
    two `central serve` processes on one database), the right password is 429 too, at
    either process, through the API and the console page; ``bob`` is not affected."""
    http_cfg = {
        "login_per_account": {"limit": 3, "period_s": 60},
        "login_per_address": ROOMY,
    }
    cfg_a = example_config(tmp_path, db_url, broker, http_cfg, "central-a")
    cfg_b = example_config(tmp_path, db_url, broker, http_cfg, "central-b")
    add_user(cfg_a, "ada", "operator")
    add_user(cfg_a, "bob", "operator")
    with (
        Serve(cfg_a, tmp_path / "a.log") as a,
        Serve(cfg_b, tmp_path / "b.log", extra=["--no-ingest"]) as b,
        httpx.Client(base_url=a.url, timeout=30) as ha,
        httpx.Client(base_url=b.url, timeout=30) as hb,
    ):
        wrong = [
            api_login(ha, "ada", "wrong-1").status_code,
            web_login(hb, "ada", "wrong-2").status_code,
            api_login(hb, "ada", "wrong-3").status_code,
        ]
        assert wrong == [401, 401, 401]
        refused = [
            api_login(ha, "ada", PASSWORD),
            api_login(hb, "ada", PASSWORD),
            web_login(ha, "ada", PASSWORD),
        ]
        assert [r.status_code for r in refused] == [429, 429, 429], [r.text for r in refused]
        for r in refused:  # a steady rate of 3/min: the next attempt in about 20 s
            assert 1 <= int(r.headers["retry-after"]) <= 20
        assert "token" not in refused[0].text
        assert api_login(hb, "bob", PASSWORD).status_code == 200
        assert web_login(ha, "bob", PASSWORD).status_code == 303  # logged in, redirected


def test_notice_lookups_share_one_budget_across_api_and_page(
    tmp_path: Path, db_url: str, broker: Broker
) -> None:
    """4 lookups per address per minute: two through /api/public/notice and two through
    the /notice page use it up; the fifth is 429 (with Retry-After) through either."""
    http_cfg = {"public_per_address": {"limit": 4, "period_s": 60}}
    cfg = example_config(tmp_path, db_url, broker, http_cfg)
    with Serve(cfg, tmp_path / "serve.log") as s, httpx.Client(base_url=s.url, timeout=30) as h:
        codes = [
            h.post("/api/public/notice", json={"reference": "JW-1", "code": "X"}).status_code,
            h.post("/notice", data={"reference": "JW-2", "code": "X"}).status_code,
            h.post("/api/public/notice", json={"reference": "JW-3", "code": "X"}).status_code,
            h.post("/notice", data={"reference": "JW-4", "code": "X"}).status_code,
        ]
        assert codes == [403, 403, 403, 403]  # one door, one answer
        api = h.post("/api/public/notice", json={"reference": "JW-5", "code": "X"})
        page = h.post("/notice", data={"reference": "JW-6", "code": "X"})
        assert (api.status_code, page.status_code) == (429, 429)
        assert int(api.headers["retry-after"]) >= 1 and int(page.headers["retry-after"]) >= 1


def test_notice_guessing_one_reference_from_many_addresses_is_throttled(
    tmp_path: Path, broker: Broker
) -> None:
    """Per reference too: rotating addresses (through a trusted proxy) does not give a
    guesser of one notice's code more than ``public_per_reference``."""
    http_cfg = {
        "trusted_proxies": ["127.0.0.1/32"],
        "public_per_reference": {"limit": 3, "period_s": 3600},
    }
    cfg = example_config(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", broker, http_cfg)
    with Serve(cfg, tmp_path / "serve.log") as s, httpx.Client(base_url=s.url, timeout=30) as h:
        codes = [
            h.post(
                "/api/public/notice",
                json={"reference": "JW-TARGET", "code": f"GUESS{i}"},
                headers={"X-Forwarded-For": f"198.51.100.{i + 1}"},
            ).status_code
            for i in range(5)
        ]
        assert codes == [403, 403, 403, 429, 429]
        other = h.post(
            "/api/public/notice",
            json={"reference": "JW-OTHER", "code": "X"},
            headers={"X-Forwarded-For": "198.51.100.99"},
        )
        assert other.status_code == 403


@pytest.mark.parametrize("trusted", [False, True], ids=["no-trusted-proxy", "trusted-proxy"])
def test_x_forwarded_for_is_believed_only_from_trusted_proxies(
    tmp_path: Path, broker: Broker, trusted: bool
) -> None:
    """4 logins per address per minute. Without trusted proxies (the default) a client
    sending a new X-Forwarded-For each time is still one address: 429 after 4. With
    127.0.0.1/32 trusted, each forwarded address has its own budget — and one address
    repeated is still throttled."""
    http_cfg: dict[str, object] = {
        "login_per_address": {"limit": 4, "period_s": 60},
        "login_per_account": ROOMY,
    }
    if trusted:
        http_cfg["trusted_proxies"] = ["127.0.0.1/32"]
    cfg = example_config(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", broker, http_cfg)
    with Serve(cfg, tmp_path / "serve.log") as s, httpx.Client(base_url=s.url, timeout=30) as h:
        rotating = [
            api_login(h, f"user{i}", "wrong", **{"X-Forwarded-For": f"203.0.113.{i + 1}"})
            for i in range(6)
        ]
        codes = [r.status_code for r in rotating]
        if not trusted:
            assert codes == [401] * 4 + [429] * 2
            return
        assert codes == [401] * 6
        same = [
            api_login(h, f"other{i}", "wrong", **{"X-Forwarded-For": "192.0.2.50"}).status_code
            for i in range(5)
        ]
        assert same == [401] * 4 + [429]
        # A client cannot prepend its own address to a trusted proxy's header: the
        # proxy's appended entry (the rightmost untrusted one) is the client.
        spoof = api_login(h, "other-x", "wrong", **{"X-Forwarded-For": "203.0.113.200, 192.0.2.50"})
        assert spoof.status_code == 429
