"""Camera health on central: a heartbeat's signal reading and failed checks show on
/console/devices with their reasons, an alert is logged once and marks the row, and the
ingest worker's Prometheus collector reports them (SQLite and PostgreSQL)."""

from __future__ import annotations

import copy
import logging
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from central.device_metrics import DeviceHealthCollector
from jaywatch import wire
from tests.central.web.util import login
from tests.central.web.world import DEVICE, World

CHANGED = datetime(2026, 5, 4, 10, 11, 12, tzinfo=UTC)


def status(alert: bool) -> wire.DeviceStatus:
    checks = [
        wire.CameraCheck(
            check="moved",
            reason="moved: the zone drawn at calibration now lies -90 px, +25 px away",
            since=CHANGED,
        )
    ]
    if alert:
        checks.insert(
            0,
            wire.CameraCheck(
                check="signal_unknown",
                alert=True,
                reason="signal dark for 12 min (alert after 5 min): no violation can be detected",
            ),
        )
    return wire.DeviceStatus(
        device_id=DEVICE,
        online=True,
        cameras=[
            wire.CameraHealth(
                camera_id="cam-1",
                up=True,
                fps=9.5,
                signal=wire.CameraSignalHealth(
                    source="roi", phase="dark", unknown_for_s=720.0 if alert else 20.0
                ),
                checks=checks,
            ),
            wire.CameraHealth(
                camera_id="cam-2",
                up=True,
                fps=10.0,
                signal=wire.CameraSignalHealth(
                    source="controller", phase="red", last_change=CHANGED, skew_s=0.25
                ),
            ),
        ],
    )


def cells(html: str, camera: str) -> str:
    m = re.search(rf'<li class="camera[^"]*" data-camera="{camera}">(.*?)</li>', html, re.S)
    assert m, html
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", m.group(1)))


def test_devices_page_shows_signal_checks_and_alert_with_reasons(
    world: World, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    login(client, "olive")
    with caplog.at_level(logging.INFO, logger="central.ingest.store"):
        world.heartbeat(status(alert=False))
        html = client.get("/console/devices").text
        cam1 = cells(html, "cam-1")
        assert "signal dark (roi) for 20 s" in cam1
        assert "view moved — moved: the zone drawn at calibration now lies -90 px" in cam1
        assert "ALERT" not in cam1 and 'class="camera alert"' not in html
        cam2 = cells(html, "cam-2")
        assert "signal red (controller) since 2026-05-04 10:11:12 UTC" in cam2
        assert "clock skew +0.25 s" in cam2

        world.heartbeat(status(alert=True))
        world.heartbeat(status(alert=True))  # still alerting: not logged again
        html = client.get("/console/devices").text
        cam1 = cells(html, "cam-1")
        assert "ALERT: signal unknown — signal dark for 12 min" in cam1
        assert 'class="camera alert"' in html
        row = re.search(r'<tr class="(\w*)" data-device="gw-main">', html)
        assert row and row.group(1) == "down"  # the row is marked like an offline device
        world.heartbeat(status(alert=False))
    alerts = [r.getMessage() for r in caplog.records if "ALERT" in r.getMessage()]
    assert alerts == [
        f"ALERT device {DEVICE} camera cam-1: signal dark for 12 min (alert after 5 min): "
        "no violation can be detected"
    ]
    assert any("signal_unknown alert cleared" in r.getMessage() for r in caplog.records)


def test_device_metrics_report_checks_and_alerts(world: World) -> None:
    world.heartbeat(status(alert=True))
    text = generate_latest(registry(world)).decode()
    d = f'device="{DEVICE}"'
    assert f'jaywatch_central_camera_signal_alert{{camera="cam-1",{d}}} 1.0' in text
    assert f'jaywatch_central_camera_signal_alert{{camera="cam-2",{d}}} 0.0' in text
    assert f'jaywatch_central_camera_check_failed{{camera="cam-1",check="moved",{d}}} 1.0' in text
    assert f'jaywatch_central_camera_check_failed{{camera="cam-2",check="moved",{d}}} 0.0' in text
    assert f'jaywatch_central_camera_signal_unknown_seconds{{camera="cam-1",{d}}} 720.0' in text
    assert f"jaywatch_central_device_online{{{d}}} 1.0" in text
    # The last will (offline, no cameras): the device is offline, no stale camera figures.
    world.heartbeat(wire.DeviceStatus(device_id=DEVICE, online=False))
    text = generate_latest(registry(world)).decode()
    assert f"jaywatch_central_device_online{{{d}}} 0.0" in text
    assert "jaywatch_central_camera_signal_alert{" not in text


def registry(world: World) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(DeviceHealthCollector(world.ctx.sessions))
    return reg


def test_a_status_with_an_oversized_reason_is_refused() -> None:
    with pytest.raises(ValueError, match="reason"):
        wire.CameraCheck(check="moved", reason="x" * 301)
    with pytest.raises(ValueError, match="checks"):
        wire.CameraHealth(
            camera_id="c", up=True, checks=[wire.CameraCheck(check="dark", reason="d")] * 9
        )
    with pytest.raises(ValueError, match="phase"):
        wire.CameraSignalHealth(source="roi", phase="purple")


def test_target_fps_reason_when_down_and_history(world: World, client: TestClient) -> None:
    from datetime import timedelta

    import sqlalchemy as sa

    from central.store.models import Device

    def beat(fps: float, up: bool = True) -> None:
        world.heartbeat(
            wire.DeviceStatus(
                device_id=DEVICE,
                online=True,
                cameras=[
                    wire.CameraHealth(camera_id="cam-1", up=True, fps=fps, target_fps=10.0),
                    wire.CameraHealth(
                        camera_id="cam-2", up=up, error="" if up else "rtsp: connection refused"
                    ),
                ],
            )
        )

    for fps in (9.8, 6.1, 9.9):
        beat(fps, up=False)
        # Samples are 5 min apart at most once: age the last one so the next is kept.
        with world.ctx.sessions.begin() as s:
            d = s.get(Device, DEVICE)
            st = copy.deepcopy(d.status)  # a fresh object: the ORM sees the change
            for h in st["history"]:
                h["at"] = (datetime.fromisoformat(h["at"]) - timedelta(minutes=10)).isoformat()
            d.status = st
    with world.ctx.sessions() as s:
        hist = s.get(Device, DEVICE).status["history"]
    assert [h["fps"]["cam-1"] for h in hist] == [9.8, 6.1, 9.9]
    assert all(h["fps"]["cam-2"] is None for h in hist)
    login(client, "olive")
    html = client.get("/console/devices").text
    cam1 = cells(html, "cam-1")
    assert "9.9 / 10 fps" in cam1
    li = re.search(r'data-camera="cam-1">(.*?)</li>', html, re.S)
    assert li and 'class="spark"' in li.group(1) and "<polyline" in li.group(1)
    assert "rtsp: connection refused" in cells(html, "cam-2")
    assert 'id="auto-refresh"' in html and "/web/static/devices.js" in html
    assert "never reported" in html  # gw-other
    # A device whose heartbeats stopped without a last will: silent, with how long.
    with world.ctx.sessions.begin() as s:
        s.execute(
            sa.update(Device)
            .where(Device.id == DEVICE)
            .values(last_seen=datetime.now(UTC) - timedelta(minutes=20))
        )
    html = client.get("/console/devices").text
    assert "no heartbeat for 20 min (connected but silent" in html


def test_api_devices_gives_target_fps_beside_actual(world: World) -> None:
    from central.api.app import create_app
    from tests.central.web.world import PASSWORDS

    world.heartbeat(
        wire.DeviceStatus(
            device_id=DEVICE,
            online=True,
            cameras=[wire.CameraHealth(camera_id="cam-1", up=True, fps=7.5, target_fps=10.0)],
        )
    )
    api = TestClient(create_app(world.ctx))
    tok = api.post(
        "/api/auth/login", json={"username": "olive", "password": PASSWORDS["olive"][1]}
    ).json()["token"]
    rows = api.get("/api/devices", headers={"Authorization": f"Bearer {tok}"}).json()
    by_id = {d["id"]: d for d in rows}
    assert by_id[DEVICE]["camera_health"] == [
        {"camera_id": "cam-1", "up": True, "fps": 7.5, "target_fps": 10.0, "error": ""}
    ]
    assert by_id["gw-other"]["camera_health"] == []  # never reported
