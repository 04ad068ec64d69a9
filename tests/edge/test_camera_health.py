"""The heartbeat entry of one camera: the signal-unknown alert's timing and wording, and
that no camera text (an exception message with control characters) can void it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edge.camera_health import SignalAlert, build_camera_health
from edge.scene_health import SceneFlag
from edge.signal.base import SignalState, SignalStatus
from jaywatch import wire

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def health(**kw: object) -> wire.CameraHealth:
    args: dict = {
        "camera_id": "cam-1",
        "up": True,
        "fps": 10.0,
        "last_frame": T0,
        "error": "",
        "finished": False,
        "signal": SignalStatus("roi", SignalState.GREEN, last_change=T0),
        "scene": [],
        "wall_of": lambda t: T0 + timedelta(seconds=t),
        "alert": SignalAlert("cam-1", 300.0),
        "started": T0,
        "now": T0,
    }
    args.update(kw)
    return build_camera_health(**args)  # type: ignore[arg-type]


def test_a_known_phase_raises_no_alert() -> None:
    h = health()
    assert h.checks == [] and h.signal is not None and h.signal.phase == "green"


def test_unknown_past_the_limit_is_an_alert_and_below_it_is_not() -> None:
    alert = SignalAlert("cam-1", 300.0)
    below = health(
        signal=SignalStatus("roi", SignalState.UNKNOWN, last_change=None, unknown_for_s=299.0),
        alert=alert,
    )
    assert below.checks == []
    above = health(
        signal=SignalStatus("roi", SignalState.DARK, last_change=None, unknown_for_s=301.0),
        alert=alert,
    )
    (c,) = above.checks
    assert c.check == "signal_unknown" and c.alert
    assert c.reason.startswith("signal dark for 5 min 1 s (alert after 5 min)")


def test_a_live_camera_without_frames_counts_the_gap_and_a_finished_file_does_not() -> None:
    silent = health(
        up=False, last_frame=T0, signal=SignalStatus("roi", SignalState.GREEN, last_change=T0),
        now=T0 + timedelta(minutes=6),
    )  # fmt: skip
    (c,) = silent.checks
    assert "unknown (no frames from the camera) for 6 min" in c.reason
    never = health(up=False, last_frame=None, signal=None, now=T0 + timedelta(minutes=10))
    assert never.checks[0].check == "signal_unknown" and never.signal is None
    done = health(up=False, finished=True, now=T0 + timedelta(hours=5))
    assert done.checks == []


def test_hostile_text_is_escaped_not_fatal() -> None:
    h = health(
        error="decoder said \x1b[31mboom\x00",
        scene=[SceneFlag("dark", 1.0, "dark: \x07 bell" + "x" * 400)],
    )
    assert "\x1b" not in h.error and "\\x1b" in h.error
    assert len(h.checks[0].reason) == 300 and "\x07" not in h.checks[0].reason
    assert h.checks[0].since == T0 + timedelta(seconds=1)
    wire.DeviceStatus(device_id="gw-1", online=True, cameras=[h])  # the heartbeat validates


def test_no_frames_then_dark_frames_is_one_period_without_a_phase() -> None:
    """The camera came up dark: the alert does not restart its clock when frames begin
    to arrive (the pipeline's own no-phase time starts at its first frame)."""
    alert = SignalAlert("cam-1", 300.0)
    silent = health(
        up=False, last_frame=None, signal=None, now=T0 + timedelta(seconds=200), alert=alert
    )
    assert silent.checks == []  # 200 s without frames: not yet
    dark = SignalStatus("roi", SignalState.DARK, unknown_for_s=150.0)  # frames for 150 s
    later = health(signal=dark, alert=alert, now=T0 + timedelta(seconds=350))
    (c,) = later.checks
    assert c.reason.startswith("signal dark for 5 min 50 s")
    green = health(alert=alert, now=T0 + timedelta(seconds=360))
    assert green.checks == [] and alert.began is None
