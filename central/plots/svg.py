"""Dashboard charts as SVG drawn on the server: bars that are links and carry a tooltip.

Why SVG from here rather than a charting library: the figures are a few dozen bins
(aggregated in central/workflow/dashboard.py), so the markup is the same size with one
event or 100,000; it needs no script (the console's CSP allows none inline and no CDN),
each bar is an ``<a>`` to the list behind it (keyboard-focusable, with an accessible
name), text stays text (zoom, screen readers, copy) and the page works with scripts
off. A library (Vega, Chart.js from npm) would add a build step and a bundle to serve
for what is bars and integer axes. A table with the same numbers follows every chart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

# Series colours: each has ≥ 3:1 contrast on white (WCAG 1.4.11 non-text contrast).
COLOURS = {
    "confirmed": "#0b4fa0",
    "dismissed": "#a4161a",
    "pending_review": "#5c5c5c",
    "unidentified": "#8a5a00",
    "voided": "#6a3d9a",
}
LABELS = {
    "confirmed": "confirmed",
    "dismissed": "rejected",
    "pending_review": "waiting",
    "unidentified": "unidentified",
    "voided": "voided",
}


@dataclass(frozen=True)
class Bar:
    """One bar: ``label`` under it, ``counts`` per series stacked, ``hrefs`` per series
    (the list behind that segment), ``title`` for its tooltip and accessible name."""

    label: str
    counts: dict[str, int]
    hrefs: dict[str, str]
    title: str


def nice_ticks(top: int, most: int = 5) -> list[int]:
    """Integer ticks 0..≥top in steps of 1, 2 or 5 × 10^k, at most ``most`` + 1 of them."""
    top = max(1, top)
    raw = top / most
    mag = 10 ** max(0, math.floor(math.log10(raw))) if raw >= 1 else 1
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    n = -(-top // step)
    return [i * step for i in range(n + 1)]


def _a(href: str, label: str, inner: str) -> str:
    return (
        f'<a href="{escape(href)}" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>{inner}</a>"
    )


def stacked_bars(
    bars: list[Bar], series: tuple[str, ...], title: str, y_label: str, max_labels: int = 8
) -> Markup:
    """Vertical stacked bars, y axis with integer ticks, every ``len/max_labels``-th label."""
    w, h, left, right, top, bottom = 720, 260, 48, 12, 12, 44
    plot_w, plot_h = w - left - right, h - top - bottom
    total_max = max((sum(b.counts.get(s, 0) for s in series) for b in bars), default=0)
    ticks = nice_ticks(total_max)
    ymax = ticks[-1]
    parts = [
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="group" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for t in ticks:
        y = top + plot_h - plot_h * t / ymax
        parts.append(
            f'<line class="grid" x1="{left}" x2="{w - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{t}</text>'
        )
    parts.append(
        f'<text class="axis" x="12" y="{top + plot_h / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {top + plot_h / 2:.0f})">{escape(y_label)}</text>'
    )
    n = max(1, len(bars))
    slot = plot_w / n
    bw = min(60.0, max(1.0, slot * 0.8))  # one bar stays a bar, not a wall
    every = max(1, math.ceil(n / max_labels))
    for i, b in enumerate(bars):
        x = left + i * slot + (slot - bw) / 2
        y = top + plot_h
        for s in series:
            c = b.counts.get(s, 0)
            if not c:
                continue
            bh = plot_h * c / ymax
            y -= bh
            rect = (
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{max(bh, 0.5):.1f}" '
                f'fill="{COLOURS.get(s, "#333")}"/>'
            )
            label = f"{b.title}: {c} {LABELS.get(s, s)}"
            href = b.hrefs.get(s)
            parts.append(_a(href, label, rect) if href else rect)
        if i % every == 0:
            cx = left + i * slot + slot / 2
            parts.append(
                f'<text class="tick" x="{cx:.1f}" y="{top + plot_h + 16}" '
                f'text-anchor="middle">{escape(b.label)}</text>'
            )
    if total_max == 0:
        parts.append(
            f'<text class="empty" x="{left + plot_w / 2:.0f}" y="{top + plot_h / 2:.0f}" '
            f'text-anchor="middle">Nothing in this period</text>'
        )
    parts.append(
        f'<line class="axis-line" x1="{left}" x2="{w - right}" y1="{top + plot_h}" '
        f'y2="{top + plot_h}"/>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def legend(series: tuple[str, ...]) -> Markup:
    # The colour is in app.css (sw-<series>): the CSP allows no inline style.
    items = "".join(
        f'<li><span class="swatch sw-{escape(s)}"></span>{escape(LABELS.get(s, s))}</li>'
        for s in series
    )
    return Markup(f'<ul class="legend">{items}</ul>')


def sparkline(values: list[float | None], label: str, w: int = 120, h: int = 24) -> Markup:
    """A small line of recent values (None: no sample) for the devices page."""
    known = [v for v in values if v is not None]
    if not known:
        return Markup(f'<span class="spark-none">{escape(label)}: no history</span>')
    top = max(known) or 1.0
    step = w / max(1, len(values) - 1)
    pts, runs = [], []
    for i, v in enumerate(values):
        if v is None:
            if pts:
                runs.append(pts)
            pts = []
            continue
        pts.append(f"{i * step:.1f},{h - 2 - (h - 4) * v / top:.1f}")
    if pts:
        runs.append(pts)
    lines = "".join(
        f'<polyline points="{" ".join(r)}"/>' if len(r) > 1 else
        f'<circle cx="{r[0].split(",")[0]}" cy="{r[0].split(",")[1]}" r="1.5"/>'
        for r in runs
    )  # fmt: skip
    return Markup(
        f'<svg class="spark" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>{lines}</svg>"
    )
