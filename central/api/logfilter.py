"""Secrets never reach the access log.

The gallery download URL carries its capability token as a path segment
(``/api/gallery/<version>/<token>``: whoever has the URL can fetch every enrolled face),
and a careless client may put a code or token into a query string. uvicorn's access log
writes the request line verbatim, and logs are read, shipped and kept by more people and
for longer than the database. This filter rewrites the logged path before any handler
sees it; it is installed through uvicorn's own logging config (``log_config``).
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

REDACTED = "[redacted]"
# Path segments that are credentials: the gallery download token.
_SECRET_PATHS = (re.compile(r"^(/api/gallery/[^/?]+/)[^/?]+"),)
# Query parameters never worth logging.
SECRET_PARAMS = frozenset(
    {"token", "code", "access_code", "password", "csrf_token", "key", "secret", "signature"}
)


def redact_path(path: str) -> str:
    """``path`` (with its query string) as it may be logged."""
    base, sep, query = path.partition("?")
    for rx in _SECRET_PATHS:
        base = rx.sub(lambda m: m.group(1) + REDACTED, base)
    if sep and query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in SECRET_PARAMS for k, _ in pairs):
            query = urlencode(
                [(k, REDACTED if k.lower() in SECRET_PARAMS else v) for k, v in pairs], safe="[]"
            )
    return base + sep + query


class RedactSecrets(logging.Filter):
    """For ``uvicorn.access`` records: args are (client, method, path, http version,
    status); the path is redacted. Other records pass untouched."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's default logging config with :class:`RedactSecrets` on the access log."""
    from uvicorn.config import LOGGING_CONFIG

    cfg = copy.deepcopy(LOGGING_CONFIG)
    cfg.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    cfg["handlers"]["access"].setdefault("filters", []).append("redact_secrets")
    return cfg
