"""The status heartbeat content (no broker: the publish callback collects)."""

from __future__ import annotations

from edge.health import GatewayMetrics, HealthReporter
from edge.outbox import Outbox
from jaywatch.wire import CameraHealth, DeviceStatus, parse_message


def test_status_reports_cameras_outbox_depth_and_low_disk(tmp_path) -> None:
    sent: list[DeviceStatus] = []
    metrics = GatewayMetrics()
    now = [1_000.0]
    with Outbox(tmp_path / "o.sqlite", min_free_bytes=1 << 62, clock=lambda: now[0]) as ob:
        for i in range(3):
            ob.put(f"e{i}", "cam0", b"x")
            now[0] += 5.0
        rep = HealthReporter(
            "gw-1",
            ob,
            sent.append,
            cameras=lambda: [CameraHealth(camera_id="cam0", up=False, error="stream lost")],
            models=lambda: {"detector": "pedestrian_ssdlite_mnv2"},
            gallery_version=lambda: "g42",
            metrics=metrics,
        )
        st = rep.report_now()
    assert sent == [st]
    assert st.online and st.outbox_depth == 3 and st.disk_low
    assert st.cameras[0].error == "stream lost"
    assert st.gallery_version == "g42" and st.models["detector"] == "pedestrian_ssdlite_mnv2"
    assert parse_message(st.model_dump_json()) == st  # valid on the wire
    assert metrics.disk_low._value.get() == 1
    assert metrics.outbox_depth._value.get() == 3
    assert metrics.oldest_age._value.get() == 15.0  # the first put, 3 x 5 s ago
    assert metrics.camera_up.labels("cam0")._value.get() == 0
