"""Gateway health: the retained ``DeviceStatus`` heartbeat and Prometheus metrics.

Central (and its operators) see a gateway through the retained status on
``jaywatch/v1/<device>/status``: cameras up/down and fps, outbox depth, disk free and a
low-disk flag (the outbox never drops events, so a filling disk must be visible before
it is full), model versions. The last will (set by the MQTT link) replaces it with
``online=False`` when the gateway vanishes. Metrics are for a local scraper.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from edge.outbox import Outbox
from jaywatch.wire import CameraCheckKind, CameraHealth, DeviceStatus, SignalPhase

log = logging.getLogger(__name__)


class GatewayMetrics:
    """The gateway's Prometheus metrics, in their own registry (tests can make many)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.outbox_depth = Gauge(
            "jaywatch_outbox_depth", "Events waiting for central's ack", registry=r
        )
        self.published = Counter(
            "jaywatch_events_published", "Event publishes (incl. resends)", registry=r
        )
        self.acked = Counter("jaywatch_events_acked", "Events central acked as stored", registry=r)
        self.retries = Counter("jaywatch_events_resent", "Resends of unacked events", registry=r)
        self.rejected = Counter("jaywatch_events_rejected", "Events central rejected", registry=r)
        self.oldest_age = Gauge(
            "jaywatch_outbox_oldest_age_seconds",
            "Age of the oldest unacked event (0 when empty)",
            registry=r,
        )
        self.disk_free = Gauge(
            "jaywatch_disk_free_bytes", "Free bytes on the outbox disk", registry=r
        )
        self.disk_low = Gauge(
            "jaywatch_disk_low", "1 when outbox disk is below the minimum", registry=r
        )
        self.camera_up = Gauge(
            "jaywatch_camera_up", "1 when the camera delivers frames", ["camera"], registry=r
        )
        self.camera_fps = Gauge(
            "jaywatch_camera_fps", "Frames analysed per second", ["camera"], registry=r
        )
        self.camera_check = Gauge(
            "jaywatch_camera_check_failed",
            "1 while a camera health check fails (frozen, dark, covered, monochrome, moved, "
            "signal_unknown, detect_stream)",
            ["camera", "check"],
            registry=r,
        )
        self.signal_alert = Gauge(
            "jaywatch_camera_signal_alert",
            "1 while the signal has had no usable phase for longer than allowed",
            ["camera"],
            registry=r,
        )
        self.signal_unknown = Gauge(
            "jaywatch_camera_signal_unknown_seconds",
            "Seconds without a usable signal phase (unknown or dark)",
            ["camera"],
            registry=r,
        )
        self.signal_phase = Gauge(
            "jaywatch_camera_signal_phase",
            "1 for the phase the signal reads now",
            ["camera", "phase"],
            registry=r,
        )
        self._server = None

    def observe_camera(self, c: CameraHealth) -> None:
        cam = c.camera_id
        self.camera_up.labels(cam).set(int(c.up))
        self.camera_fps.labels(cam).set(c.fps)
        failed = {k.check for k in c.checks}
        for kind in get_args(CameraCheckKind):
            self.camera_check.labels(cam, kind).set(int(kind in failed))
        self.signal_alert.labels(cam).set(int(any(k.alert for k in c.checks)))
        self.signal_unknown.labels(cam).set(c.signal.unknown_for_s if c.signal else 0.0)
        phase = c.signal.phase if c.signal else "unknown"
        for p in get_args(SignalPhase):
            self.signal_phase.labels(cam, p).set(int(p == phase))

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Expose ``/metrics`` on ``host:port`` (0 picks a free port); returns the port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        return server.server_address[1]

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class HealthReporter:
    """Builds and publishes the device status every ``interval_s`` seconds.

    ``cameras`` and ``models`` are provider callbacks the gateway process fills (the
    camera workers know their fps; the model loader knows versions); ``publish`` is
    usually ``MqttLink.publish_status``.
    """

    def __init__(
        self,
        device_id: str,
        outbox: Outbox,
        publish: Callable[[DeviceStatus], None],
        *,
        interval_s: float = 30.0,
        cameras: Callable[[], list[CameraHealth]] = list,
        models: Callable[[], dict[str, str]] = dict,
        gallery_version: Callable[[], str] = str,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.device_id = device_id
        self.outbox = outbox
        self.interval_s = interval_s
        self._publish = publish
        self._cameras = cameras
        self._models = models
        self._gallery_version = gallery_version
        self._metrics = metrics
        self._stop = threading.Event()
        self._now = threading.Event()
        self._thread: threading.Thread | None = None

    def build_status(self) -> DeviceStatus:
        disk = self.outbox.disk_status()
        cams = self._cameras()
        depth = self.outbox.depth()
        if self._metrics:
            m = self._metrics
            m.outbox_depth.set(depth)
            m.oldest_age.set(self.outbox.oldest_age_s() or 0.0)
            m.disk_free.set(disk.free_bytes)
            m.disk_low.set(int(disk.low))
            for c in cams:
                m.observe_camera(c)
        return DeviceStatus(
            device_id=self.device_id,
            online=True,
            cameras=cams,
            outbox_depth=depth,
            disk_free_bytes=disk.free_bytes,
            disk_low=disk.low,
            models=self._models(),
            gallery_version=self._gallery_version(),
        )

    def report_now(self) -> DeviceStatus:
        status = self.build_status()
        self._publish(status)
        return status

    def trigger(self) -> None:
        """Report at once (e.g. right after a reconnect, to replace the retained will)."""
        self._now.set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._now.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.report_now()
            except Exception:
                log.exception("health report failed")
            self._now.wait(self.interval_s)
            self._now.clear()
