"""The HTTP front door of central: what every request passes before a route runs, and
the throttle the public doors (login, citizens' notice) share.

- who the client is: the TCP peer, or X-Forwarded-For when the peer is one of
  ``http.trusted_proxies`` (uvicorn's ProxyHeadersMiddleware, configured from central's
  config, not uvicorn's default of trusting loopback);
- how big a body may be: ``bodylimit.BodyLimitMiddleware``, per route, while streaming;
- how often: ``ratelimit.RateLimiter`` (database buckets shared by every process),
  through ``Throttle``'s rules from the config;
- 422 answers that name the field and never echo the input.

``install(app, ctx)`` wires all of it once (``create_app`` and ``mount_web`` both call
it); routes reach it with ``frontdoor(request)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from central.config import HttpSettings
from central.context import Context
from central.frontdoor.bodylimit import BodyLimitMiddleware
from central.frontdoor.passwords import PasswordChecks
from central.frontdoor.ratelimit import RateLimiter, Rule, Verdict


@dataclass
class Throttle:
    """The front door's rules over the shared limiter. One budget per door, whichever
    way it is reached: the API and the web page of a door charge the same buckets."""

    limiter: RateLimiter
    login_account: Rule
    login_address: Rule
    public_address: Rule
    public_reference: Rule

    @classmethod
    def from_settings(cls, limiter: RateLimiter, h: HttpSettings) -> Throttle:
        def rule(name: str, r: Any) -> Rule:
            return Rule(name, r.limit, r.period_s)

        return cls(
            limiter,
            rule("login-account", h.login_per_account),
            rule("login-address", h.login_per_address),
            rule("public-address", h.public_per_address),
            rule("public-reference", h.public_per_reference),
        )

    def login(self, address: str, username: str) -> Verdict:
        return self.limiter.hit([(self.login_account, username), (self.login_address, address)])

    def public(self, address: str, reference: str | None) -> Verdict:
        """A citizen's attempt to open a notice (reference + access code)."""
        charges = [(self.public_address, address)]
        if reference:
            charges.append((self.public_reference, reference.strip()))
        return self.limiter.hit(charges)


@dataclass
class FrontDoor:
    settings: HttpSettings
    throttle: Throttle
    passwords: PasswordChecks


def client_address(request: Request) -> str:
    """The client's address as the front door sees it (after trusted-proxy rewriting)."""
    return request.client.host if request.client else "unknown"


def frontdoor(request: Request) -> FrontDoor:
    fd = getattr(request.app.state, "frontdoor", None)
    if fd is None:
        raise RuntimeError("central.frontdoor: install(app, ctx) was not called on this app")
    return fd


def install(app: FastAPI, ctx: Context) -> FrontDoor:
    """Add the front door to ``app`` (idempotent). Call before the app starts."""
    existing = getattr(app.state, "frontdoor", None)
    if existing is not None:
        return existing
    h = ctx.config.http
    fd = FrontDoor(
        settings=h,
        throttle=Throttle.from_settings(RateLimiter(ctx.engine), h),
        passwords=PasswordChecks(h.password_checks, h.max_waiting_password_checks),
    )
    app.state.frontdoor = fd
    limits = h.route_body_limits(ctx.config.appeals)
    app.add_middleware(BodyLimitMiddleware, default=h.max_body_bytes, routes=limits)
    if h.trusted_proxies:  # added last: outermost, so every later layer sees the real client
        app.add_middleware(
            ProxyHeadersMiddleware, trusted_hosts=[str(n) for n in h.trusted_proxies]
        )
    app.add_exception_handler(RequestValidationError, _validation_error)
    return fd


MSG_CHARS = 200


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 without ``input``: the rejected value (a password, 10 kB of text) is
    never sent back, and nothing in the answer grows with the request."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {
            "type": str(e.get("type", ""))[:64],
            "loc": [x if isinstance(x, int) else str(x)[:64] for x in e.get("loc", ())][:8],
            "msg": str(e.get("msg", ""))[:MSG_CHARS],
        }
        for e in list(exc.errors())[:20]
    ]
    return JSONResponse({"detail": detail}, status_code=422)
