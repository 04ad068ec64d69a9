"""A scripted walker's rule case, worked out from its foot path and the phase schedule.

Scene generators script paths to show a case (violation, clearance, within grace…) and
then check, frame by frame, that the path really gives it: the ground truth is what the
path does, not what the script meant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tools.schedule import Schedule

Foot = tuple[float, float]


def classify_feet(
    feet: Sequence[Foot | None],
    inside: Callable[[Foot], bool],
    distance: Callable[[Foot], float],
    schedule: Schedule,
    fps: float,
    grace_s: float,
) -> tuple[str, dict]:
    """``(case, info)`` for one walker whose foot point in frame ``i`` is ``feet[i]``.

    Cases: ``violation`` (first entry while red for more than ``grace_s``), ``within_grace``,
    ``green_crossing``, ``clearance`` (in the zone when red began, no entry on red) and
    ``sidewalk_only`` (never enters). ``info`` holds the entry frame, its foot point, the
    exits, the red start frames it was inside at, and how close it came from outside.
    """
    n = len(feet)
    ins = [f is not None and inside(f) for f in feet]
    entries = [i for i in range(1, n) if ins[i] and not ins[i - 1] and feet[i - 1] is not None]
    red_starts = [round(iv.from_s * fps) for iv in schedule.intervals if iv.phase == "red"]
    in_at_red = [r for r in red_starts if 0 < r < n and ins[r] and ins[r - 1]]
    visible = [f for f in feet if f is not None]
    info: dict = {"feet": list(feet), "min_outside_px": -max(distance(f) for f in visible)}
    if not entries:
        return ("clearance" if in_at_red else "sidewalk_only"), info | {"red_frame": in_at_red}
    e = entries[0]
    info |= {
        "entry": e,
        "foot": feet[e],
        "exits": [i for i in range(1, n) if ins[i - 1] and not ins[i]],
    }
    since = schedule.red_since(e / fps)
    if since is None:
        return ("clearance" if in_at_red else "green_crossing"), info | {"red_frame": in_at_red}
    info["red_for"] = e / fps - since
    return ("violation" if info["red_for"] > grace_s else "within_grace"), info
