"""Basic accessibility checks run inside the page: labels and text contrast (WCAG 2 AA)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

UNLABELLED_JS = """
() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && e.offsetParent !== null)
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map(e => e.outerHTML.slice(0, 120))
"""

CONTRAST_JS = (Path(__file__).parent / "contrast.js").read_text()


def check_page(page: Any) -> None:
    """Fail with the offending elements: unlabelled form fields, low-contrast text."""
    unlabelled = page.evaluate(UNLABELLED_JS)
    assert not unlabelled, f"{page.url}: form fields without a label: {unlabelled}"
    low = [c for c in page.evaluate(CONTRAST_JS) if c["ratio"] < c["need"]]
    assert not low, f"{page.url}: text below WCAG AA contrast: {low[:5]}"
