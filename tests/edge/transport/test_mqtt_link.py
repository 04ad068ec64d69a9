"""MqttLink against a real mosquitto and the central stand-in: delivery, acks, status, will."""

from __future__ import annotations

import urllib.request

import pytest

from edge.health import GatewayMetrics, HealthReporter
from edge.outbox import Outbox, RetryPolicy
from edge.transport import MqttLink
from jaywatch.wire import (
    GALLERY_TOPIC,
    CameraHealth,
    GalleryAnnouncement,
    generate_device_key,
    public_key_bytes,
    sign_message,
    verify_message,
)
from tests.edge.transport.acker import Acker, broker_config, make_event, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.timeout(60)]

DEV = "gw-t1"


@pytest.fixture
def key():
    return generate_device_key()


def test_events_are_delivered_acked_and_removed(broker, tmp_path, key) -> None:
    acker = Acker(broker.host, broker.port, {DEV: public_key_bytes(key)}).start()
    metrics = GatewayMetrics()
    with Outbox(tmp_path / "o.sqlite", retry=RetryPolicy(base_s=5)) as ob:
        link = MqttLink(DEV, broker_config(broker), ob, device_key=key, metrics=metrics)
        link.start()
        events = [make_event(DEV, f"cam{i % 2}", key, i) for i in range(40)]
        for ev in events:
            assert ob.put_event(ev)
        wait_until(lambda: ob.depth() == 0, 20, "outbox to drain")
        link.stop()
    assert set(acker.store) == {e.event_id for e in events}
    assert acker.stored_acks == 40
    assert link.stats.acked == 40
    assert metrics.acked._value.get() == 40
    acker.stop()


def test_status_heartbeat_last_will_gallery_and_metrics(broker, tmp_path, key) -> None:
    central_key = generate_device_key()
    acker = Acker(
        broker.host, broker.port, {DEV: public_key_bytes(key)}, central_key=central_key
    ).start()
    metrics = GatewayMetrics()
    port = metrics.serve(0)
    with Outbox(tmp_path / "o.sqlite") as ob:
        link = MqttLink(DEV, broker_config(broker), ob, device_key=key, metrics=metrics)
        got_gallery: list[bytes] = []
        link.subscribe(GALLERY_TOPIC, lambda _t, p: got_gallery.append(p))
        cams = [
            CameraHealth(camera_id="cam0", up=True, fps=7.5),
            CameraHealth(camera_id="cam1", up=False),
        ]
        reporter = HealthReporter(
            DEV,
            ob,
            link.publish_status,
            interval_s=0.2,
            cameras=lambda: cams,
            models={"pedestrian": "ssdlite-1"}.copy,
            metrics=metrics,
        )
        link.add_connect_listener(reporter.trigger)
        link.start()
        assert link.wait_connected(10)
        ob.put_event(make_event(DEV, "cam0", key, 0))
        reporter.start()
        wait_until(
            lambda: DEV in acker.statuses and acker.statuses[DEV].online, 10, "online status"
        )
        st = acker.statuses[DEV]
        assert verify_message(st, public_key_bytes(key))
        assert [c.camera_id for c in st.cameras] == ["cam0", "cam1"]
        assert st.models == {"pedestrian": "ssdlite-1"}
        assert st.disk_free_bytes and st.disk_free_bytes > 0
        # gallery announcement from central reaches the gateway's subscription
        ann = sign_message(
            GalleryAnnouncement(
                device_id="central", version="v7", sha256="ab" * 32, url="https://c/g"
            ),
            central_key,
        )
        acker.client.publish(GALLERY_TOPIC, ann.model_dump_json(), qos=1, retain=True)
        wait_until(lambda: bool(got_gallery), 10, "gallery announcement")
        wait_until(lambda: ob.depth() == 0, 10, "ack")
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert 'jaywatch_camera_fps{camera="cam0"} 7.5' in body
        assert "jaywatch_events_acked_total 1.0" in body
        reporter.stop()
        link.stop()
    metrics.shutdown()
    wait_until(lambda: not acker.statuses[DEV].online, 10, "offline status on clean stop")
    assert verify_message(acker.statuses[DEV], public_key_bytes(key))
    acker.client.publish(GALLERY_TOPIC, b"", retain=True)
    acker.stop()


def test_window_of_one_keeps_strict_per_camera_order_through_resends(broker, tmp_path, key) -> None:
    """Central starts late (events before it are lost at the broker and resent): with a
    window of 1, central still first sees each camera's events in the order they were put."""
    with Outbox(tmp_path / "o.sqlite", retry=RetryPolicy(base_s=0.3, max_s=0.6)) as ob:
        link = MqttLink(DEV, broker_config(broker), ob, device_key=key, window_per_camera=1)
        link.start()
        assert link.wait_connected(10)
        events = [make_event(DEV, f"cam{i % 2}", key, i) for i in range(40)]
        for ev in events:
            ob.put_event(ev)
        wait_until(lambda: link.stats.resent >= 2, 10, "resends while central is away")
        acker = Acker(broker.host, broker.port, {DEV: public_key_bytes(key)}).start()
        wait_until(lambda: ob.depth() == 0, 30, "outbox to drain")
        link.stop()
    for cam in ("cam0", "cam1"):
        first_seen: list[str] = []
        for ev in acker.arrivals:
            if ev.camera_id == cam and ev.event_id not in first_seen:
                first_seen.append(ev.event_id)
        assert first_seen == [e.event_id for e in events if e.camera_id == cam]
    acker.stop()
