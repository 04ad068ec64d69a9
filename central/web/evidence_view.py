"""What a page draws on one evidence still, and how it labels it (console and citizen).

Schema 2 events carry each still's own truth (the violator's box and foot point on that
frame, its time, the phase read on it); schema 1 events carry only the entry frame's box,
so it is drawn on the entry still alone: a box on another frame would frame empty road.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any


def _time_label(truth: dict[str, Any]) -> str:
    try:
        local = datetime.fromisoformat(truth["local"])
        utc = datetime.fromisoformat(truth["utc"])
    except (KeyError, TypeError, ValueError):
        return ""
    ms = f"{local.microsecond // 1000:03d}"
    text = f"{local:%Y-%m-%d %H:%M:%S}.{ms} {truth.get('tz', '')}"
    if local.utcoffset():
        text += f" ({utc:%H:%M:%S}.{ms} UTC)"
    return text


def _box_or_none(value: Any) -> list[float] | None:
    """A stored box as four finite numbers, or None: an overlay never trusts stored data
    to be well formed (rows written before the wire contract was strict, or by hand)."""
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    box = [float(v) for v in value]
    return box if all(math.isfinite(v) for v in box) else None


def frame_view(role: str, img: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """``geometry`` for the overlay (scene pixels) and ``label`` parts for one still."""
    truth = img.get("truth") or None
    signal = payload.get("signal") or {}
    geometry: dict[str, Any] = {"zone": payload.get("zone") or [], "roi": signal.get("roi")}
    if truth is not None:
        geometry |= {"box": truth.get("box"), "foot": truth.get("foot")}
        phase, red_for = truth.get("phase", "?"), truth.get("red_for_s")
        when = _time_label(truth)
    else:  # schema 1: the entry box belongs to the entry frame only
        box = _box_or_none(payload.get("bbox")) if role == "entry" else None
        foot = [(box[0] + box[2]) / 2, box[3]] if box else None
        geometry |= {"box": box, "foot": foot}
        phase = signal.get("phase", "?") if role == "entry" else None
        red_for = signal.get("red_for_s") if role == "entry" else None
        when = ""
    return {
        "geometry": geometry,
        "frame_no": img.get("frame"),
        "when": when,
        "phase": phase,
        "red_for_s": red_for,
        "has_truth": truth is not None,
        "box_seen": geometry.get("box") is not None,
    }


def clip_view(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The clip's facts for the player (None when the event has no clip)."""
    clip = payload.get("clip")
    if not clip:
        return None
    first = clip.get("frame_first", 0)
    last = clip.get("frame_last", first)
    return {
        "fps": clip.get("fps"),
        "frames": clip.get("frames"),
        "frame_first": first,
        "frame_last": last,
        "entry_frame": payload.get("frame"),
        "t_first": clip.get("t_first"),
        "t_entry": payload.get("t"),
        "duration_s": (clip.get("t_last", 0) - clip.get("t_first", 0)) + 1 / clip["fps"],
        "sha256": clip.get("sha256"),
        "size": clip.get("size"),
    }


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) else None


def match_view(
    stored_score: float | None,
    match: dict[str, Any],
    alternatives: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Score, threshold and margin of the gateway's match, for the face comparison, and
    how far ahead of its runner-up it was (``lead``: best minus second).

    ``alternatives`` are the runner-ups stored with the event (``events.match_alternatives``,
    issue 17); a gateway with ``faces.alternatives: 0`` or an older one sends none."""
    score = stored_score if stored_score is not None else _number(match.get("score"))
    threshold = _number(match.get("threshold"))
    margin = score - threshold if score is not None and threshold is not None else None
    alternatives = alternatives or []
    second = alternatives[0].get("score") if alternatives else None
    return {
        "score": score,
        "threshold": threshold,
        "margin": margin,
        "backend": match.get("backend") or "",
        "gallery_version": match.get("gallery_version") or "",
        "lead": score - second if score is not None and second is not None else None,
    }
