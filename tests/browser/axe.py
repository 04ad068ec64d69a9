"""axe-core (Deque's accessibility engine) inside the page under test.

The engine comes from PyPI: the ``axe-playwright-python`` package (dev extra) ships
axe-core's ``axe.min.js`` (MPL-2.0); we load only that file, so nothing is vendored here
and no npm step is needed. It is injected with ``page.evaluate`` (a DevTools call, not a
``<script>``), so the console's CSP (``script-src 'self'``) does not block it and the
page under test is not changed."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

# WCAG 2.x A and AA rules plus axe's best practices.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
BLOCKING = ("serious", "critical")


@cache
def axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


def axe_version(page: Any) -> str:
    return str(page.evaluate("() => window.axe && window.axe.version"))


def run_axe(page: Any) -> list[dict[str, Any]]:
    """All violations on the page as axe reports them (id, impact, help, nodes)."""
    if not page.evaluate("() => !!window.axe"):
        page.evaluate(axe_source())
    run = "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
    result = page.evaluate(run, TAGS)
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
    ]


def assert_no_serious(page: Any) -> list[dict[str, Any]]:
    """Fail on serious/critical violations; return the minor/moderate ones for the log."""
    found = run_axe(page)
    bad = [v for v in found if v["impact"] in BLOCKING]
    assert not bad, f"{page.url}: axe-core serious violations: {bad}"
    return found


def assert_no_violations(page: Any) -> list[dict[str, Any]]:
    """Fail on any axe violation, whatever its impact (minor and moderate too)."""
    found = run_axe(page)
    assert not found, f"{page.url}: axe-core violations: {found}"
    return found
