"""Camera health of every registered gateway as Prometheus metrics, read from the devices
table at scrape time.

Every ingest worker stores the heartbeats it happens to receive (shared subscription), so
no worker's memory holds the whole fleet; the table does. Each worker's ``/metrics``
therefore reports the same fleet-wide figures: scrape one, or aggregate with ``max``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import get_args

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from central.store.models import Device
from central.workflow.devices import camera_views
from jaywatch import wire

log = logging.getLogger(__name__)


class DeviceHealthCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        online = GaugeMetricFamily(
            "jaywatch_central_device_online", "1 while the gateway's heartbeat says online",
            labels=["device"],
        )  # fmt: skip
        up = GaugeMetricFamily(
            "jaywatch_central_camera_up", "1 when the camera delivers frames",
            labels=["device", "camera"],
        )  # fmt: skip
        failed = GaugeMetricFamily(
            "jaywatch_central_camera_check_failed",
            "1 while a camera health check fails, by check",
            labels=["device", "camera", "check"],
        )
        alert = GaugeMetricFamily(
            "jaywatch_central_camera_signal_alert",
            "1 while the camera's signal has had no usable phase for too long",
            labels=["device", "camera"],
        )
        unknown = GaugeMetricFamily(
            "jaywatch_central_camera_signal_unknown_seconds",
            "Seconds without a usable signal phase, as last reported",
            labels=["device", "camera"],
        )
        try:
            with self.sessions() as s:
                rows = s.execute(
                    sa.select(Device.id, Device.online, Device.status).where(
                        Device.disabled.is_(False)
                    )
                ).all()
        except sa.exc.SQLAlchemyError as e:  # a scrape must never fail the worker
            log.warning("device metrics: database unavailable (%s)", type(e).__name__)
            rows = []
        kinds = get_args(wire.CameraCheckKind)
        for device_id, is_online, status in rows:
            online.add_metric([device_id], 1.0 if is_online else 0.0)
            if not is_online:
                continue  # the last will carries no cameras; what it said before is stale
            for v in camera_views(status):
                up.add_metric([device_id, v.camera_id], 1.0 if v.up else 0.0)
                active = {c.check for c in v.checks}
                for k in kinds:
                    failed.add_metric([device_id, v.camera_id, k], 1.0 if k in active else 0.0)
                alert.add_metric([device_id, v.camera_id], 1.0 if v.alert else 0.0)
                unknown.add_metric(
                    [device_id, v.camera_id], v.signal.unknown_for_s if v.signal else 0.0
                )
        yield from (online, up, failed, alert, unknown)
