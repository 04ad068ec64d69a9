"""Basic accessibility checks run inside the page: labels and text contrast (WCAG 2 AA)."""

from __future__ import annotations

from typing import Any

UNLABELLED_JS = """
() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && e.offsetParent !== null)
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map(e => e.outerHTML.slice(0, 120))
"""

# For every visible element with its own text: text colour against the first opaque
# background behind it (walking up the tree), WCAG relative luminance.
CONTRAST_JS = """
() => {
  const parse = c => { const m = c.match(/[\\d.]+/g).map(Number); return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1}; };
  const lum = ({r, g, b}) => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bgOf = el => { for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor); if (c.a > 0.5) return c; }
    return {r: 255, g: 255, b: 255, a: 1}; };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (!el.offsetParent && getComputedStyle(el).position !== 'fixed') continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility === 'hidden' || el.closest('.sr-only, .skip')) continue;
    const fg = parse(cs.color), bg = bgOf(el);
    const [l1, l2] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const size = parseFloat(cs.fontSize), bold = Number(cs.fontWeight) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    out.push({text: el.textContent.trim().slice(0, 40), ratio: (l1 + 0.05) / (l2 + 0.05), need: large ? 3 : 4.5});
  }
  return out;
}
"""


def check_page(page: Any) -> None:
    """Fail with the offending elements: unlabelled form fields, low-contrast text."""
    unlabelled = page.evaluate(UNLABELLED_JS)
    assert not unlabelled, f"{page.url}: form fields without a label: {unlabelled}"
    low = [c for c in page.evaluate(CONTRAST_JS) if c["ratio"] < c["need"]]
    assert not low, f"{page.url}: text below WCAG AA contrast: {low[:5]}"
