"""One camera's health for the heartbeat: frames, signal reading, scene checks, alert.

The worker knows whether frames arrive (``CameraStatus``), the pipeline knows the
signal's phase, the :class:`~edge.scene_health.SceneMonitor` knows what the picture looks
like. This module turns them into the typed :class:`jaywatch.wire.CameraHealth` and
raises the *signal unknown* alert: no usable phase (unknown or dark) for longer than
``signal_unknown_alert_s`` means the camera enforces nothing, and that must be seen —
logged once when it starts, a metric, and a flag with a reason on central's devices page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from edge.scene_health import SceneFlag
from edge.signal.base import SignalStatus
from jaywatch import wire

log = logging.getLogger(__name__)

NO_PHASE = ("unknown", "dark")


def _fmt_duration(s: float) -> str:
    """Exact to the second, so "for 5 min 1 s (alert after 5 min)" never reads as equal."""
    n = int(s)
    if n < 120:
        return f"{n} s"
    h, rest = divmod(n, 3600)
    m, sec = divmod(rest, 60)
    parts = [f"{h} h"] * bool(h) + [f"{m} min"] * bool(m) + [f"{sec} s"] * bool(sec)
    return " ".join(parts)


class SignalAlert:
    """Logs once when a camera's signal has had no usable phase for too long, and once
    when it has one again.

    The period without a phase is kept here, in wall time, so it runs on across its
    causes: no frames at first, then dark frames, is one period, not two."""

    def __init__(self, camera_id: str, after_s: float) -> None:
        self.camera_id = camera_id
        self.after_s = after_s
        self.active = False
        self.began: datetime | None = None

    def update(
        self, unknown_s: float, why: str, now: datetime | None = None
    ) -> wire.CameraCheck | None:
        """``unknown_s``: how long the current cause says there has been no phase (0 for a
        known phase)."""
        now = now or datetime.now(UTC)
        if unknown_s <= 0:
            self.began = None
        else:
            start = now - timedelta(seconds=unknown_s)
            self.began = start if self.began is None else min(self.began, start)
            unknown_s = (now - self.began).total_seconds()
        alert = unknown_s > self.after_s
        if alert and not self.active:
            log.warning(
                "ALERT camera %s: signal %s for %s (alert after %s): no violation can be detected",
                self.camera_id,
                why,
                _fmt_duration(unknown_s),
                _fmt_duration(self.after_s),
            )
        elif self.active and not alert:
            log.info("camera %s: signal readable again", self.camera_id)
        self.active = alert
        if not alert:
            return None
        return wire.CameraCheck(
            check="signal_unknown",
            alert=True,
            reason=(
                f"signal {why} for {_fmt_duration(unknown_s)} (alert after "
                f"{_fmt_duration(self.after_s)}): no violation can be detected"
            )[:300],
        )


def build_camera_health(
    *,
    camera_id: str,
    up: bool,
    fps: float,
    last_frame: datetime | None,
    error: str,
    finished: bool,
    signal: SignalStatus | None,
    scene: list[SceneFlag],
    wall_of: Callable[[float], datetime],
    alert: SignalAlert,
    started: datetime,
    now: datetime | None = None,
    target_fps: float | None = None,
    detect_stream: str | None = None,
) -> wire.CameraHealth:
    """The heartbeat entry of one camera. ``signal`` is the pipeline's
    :class:`~edge.signal.base.SignalStatus` snapshot (or ``None``); a live camera without
    frames adds the time since its last frame (or since the worker started) to the time
    without a phase."""
    now = now or datetime.now(UTC)
    checks = [
        wire.CameraCheck(
            check=f.check, reason=wire.printable(f.reason, 300), since=wall_of(f.since)
        )
        for f in scene
    ]
    sig = None
    unknown_s, why = 0.0, "unknown"
    if signal is not None:
        phase = str(getattr(signal.phase, "value", signal.phase))
        sig = wire.CameraSignalHealth(
            source=signal.source,
            phase=phase,  # type: ignore[arg-type]
            last_change=signal.last_change,
            unknown_for_s=max(0.0, float(signal.unknown_for_s)),
            stale=bool(signal.stale),
            stale_for_s=signal.stale_for_s,
            skew_s=signal.skew_s,
        )
        unknown_s = sig.unknown_for_s
        why = "stale (controller feed silent)" if sig.stale else phase
    if not finished and not up:
        # No frames now: nothing is read, so the signal is unknown since the last frame.
        gap = (now - (last_frame or started)).total_seconds()
        if signal is None or sig is None or sig.phase not in NO_PHASE:
            unknown_s = 0.0
        unknown_s += max(0.0, gap)
        why = "unknown (no frames from the camera)"
    if signal is not None and sig is not None and sig.phase not in NO_PHASE and up:
        unknown_s = 0.0
    elif sig is not None and sig.phase in NO_PHASE and up:
        unknown_s = max(unknown_s, 1e-3)  # no phase now, however short: the period goes on
    flag = alert.update(unknown_s, why, now) if not finished else None
    if flag is not None:
        checks.insert(0, flag)
    if detect_stream is not None and up:  # why the sub stream is not used (a live camera)
        checks.append(
            wire.CameraCheck(check="detect_stream", reason=wire.printable(detect_stream, 300))
        )
    return wire.CameraHealth(
        camera_id=camera_id,
        up=up,
        fps=round(fps, 2) if up else 0.0,
        target_fps=target_fps if target_fps and 0 < target_fps <= 1000 else None,
        last_frame=last_frame,
        error=wire.printable(error, 500),  # an exception text must never void the heartbeat
        signal=sig,
        checks=checks[: wire.MAX_CAMERA_CHECKS],
    )
