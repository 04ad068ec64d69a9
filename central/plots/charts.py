"""Dashboard charts rendered server-side to PNG.

``Figure`` objects directly, never pyplot: pyplot keeps global state and requests are
served from several threads at once; a bare Figure renders with Agg, no display needed.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta

import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sqlalchemy.orm import Session

from central.plots import stats

SIZE = (7, 3.4)


def _figure() -> Figure:
    fig = Figure(figsize=SIZE)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#444")


def per_hour_chart(session: Session, days: int) -> bytes:
    s = stats.per_hour(session, days)
    fig = _figure()
    ax = fig.subplots()
    for cam, counts in sorted(s.by_camera.items()):
        ax.step(s.edges, counts, where="post", label=cam, linewidth=1.6)
    if not s.by_camera:
        _empty(ax, "No confirmed infractions in this period")
    else:
        ax.legend(loc="upper left", fontsize=9)
    ax.set_ylabel("confirmed per hour")
    ax.set_xlim(s.edges[0], s.edges[-1] + timedelta(hours=1))
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %H:%M"))
    fig.autofmt_xdate()
    ax.grid(alpha=0.3)
    return _png(fig)


def rejected_share_chart(session: Session, days: int) -> bytes:
    s = stats.rejected_share(session, days)
    fig = _figure()
    ax = fig.subplots()
    for cam, share in sorted(s.by_camera.items()):
        ax.plot(s.edges, 100 * share, marker="o", label=cam, linewidth=1.6)
    if not s.by_camera:
        _empty(ax, "Nothing reviewed in this period")
    else:
        ax.legend(loc="upper left", fontsize=9)
    ax.set_ylim(-2, 102)
    ax.set_xlim(s.edges[0] - timedelta(hours=12), s.edges[-1] + timedelta(hours=12))
    ax.set_ylabel("% rejected at review")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    fig.autofmt_xdate()
    ax.grid(alpha=0.3)
    return _png(fig)


def scores_chart(session: Session, days: int) -> bytes:
    data = stats.match_scores(session, days)
    fig = _figure()
    ax = fig.subplots()
    values = [v for v in data.values() if v.size]
    if not values:
        _empty(ax, "No matches in this period")
    else:
        lo, hi = float(min(v.min() for v in values)), float(max(v.max() for v in values))
        bins = np.linspace(lo - 1e-6, hi + 1e-6, 25)
        colours = {"confirmed": "#0b4fa0", "dismissed": "#a4161a", "pending_review": "#888"}
        for name, v in data.items():
            if v.size:
                ax.hist(v, bins=bins, alpha=0.6, label=f"{name} ({v.size})", color=colours[name])
        ax.legend(fontsize=9)
    ax.set_xlabel("match score")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("events")
    ax.grid(alpha=0.3)
    return _png(fig)


CHARTS: dict[str, Callable[[Session, int], bytes]] = {
    "per_hour": per_hour_chart,
    "rejected_share": rejected_share_chart,
    "scores": scores_chart,
}
