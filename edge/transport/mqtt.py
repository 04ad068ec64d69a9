"""The gateway's MQTT link: drains the outbox to central and applies central's acks.

paho-mqtt 2.x, MQTT 5, QoS 1, a persistent session (``clean_start=False`` plus a session
expiry) so acks queued while the gateway was offline still arrive, TLS and a per-device
username/password. ``broker.mqtt_version: "3.1.1"`` (the demo's embedded broker) uses
``clean_session=False`` instead; a lost ack there only means the event is resent. The
last will is a retained, signed ``DeviceStatus(online=False)``.

Threads: paho's network thread (connect, reconnect with back-off, callbacks) and one
publisher thread that owns the outbox reads, publishes and ack bookkeeping. The pipeline
never touches MQTT: it calls ``Outbox.put_event`` from any thread, which wakes the
publisher. paho keeps in-flight QoS 1 state in memory only, so after every (re)connect
all unacked rows are made due again; central deduplicates by event id.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.gateway_config import BrokerConfig
from edge.health import GatewayMetrics
from edge.outbox import Outbox
from edge.transport.acks import AckOutcome, parse_ack
from jaywatch.mqtt_options import client_kwargs, connect_kwargs
from jaywatch.wire import (
    CameraSnapshot,
    DeviceStatus,
    WireModel,
    ack_topic,
    sign_message,
    snapshot_topic,
    status_topic,
    violation_topic,
)

log = logging.getLogger(__name__)

MessageCallback = Callable[[str, bytes], None]


@dataclass
class LinkStats:
    """Counters since start (the Prometheus metrics carry the same numbers)."""

    published: int = 0
    resent: int = 0
    acked: int = 0
    rejected: int = 0
    ignored_acks: int = 0
    connects: int = 0


def _no_delay(client: mqtt.Client, userdata: object, sock: object) -> None:
    """Disable Nagle: an event or ack is one small write that should leave at once, not
    wait ~40 ms for the peer's delayed ACK (paho leaves Nagle on)."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]


class MqttLink:
    """One device's connection to the broker plus the outbox publisher loop."""

    def __init__(
        self,
        device_id: str,
        broker: BrokerConfig,
        outbox: Outbox,
        *,
        device_key: Ed25519PrivateKey | None = None,
        central_public_key: bytes | None = None,
        window_per_camera: int = 64,
        metrics: GatewayMetrics | None = None,
        username: str | None = None,
        client_id: str | None = None,
    ) -> None:
        self.device_id = device_id
        self.broker = broker
        self.outbox = outbox
        self.window = window_per_camera
        self.stats = LinkStats()
        self._key = device_key
        self._central_key = central_public_key
        self._metrics = metrics
        self._topic = violation_topic(device_id)
        self._ack_topic = ack_topic(device_id)
        self._status_topic = status_topic(device_id)
        self._subs: dict[str, MessageCallback] = {}
        self._connect_listeners: list[Callable[[], None]] = []
        self._acks: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = self._make_client(username or broker.username or device_id, client_id)
        outbox.add_listener(self.wake)

    # --- setup --------------------------------------------------------------------------

    def _sign(self, msg: WireModel) -> bytes:
        if self._key is not None:
            msg = sign_message(msg, self._key)
        return msg.model_dump_json().encode()

    def _make_client(self, username: str, client_id: str | None) -> mqtt.Client:
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or self.broker.client_id or self.device_id,
            **client_kwargs(self.broker.mqtt_version, persistent=True),
        )
        c.username_pw_set(username, self.broker.read_password())
        if self.broker.tls:
            c.tls_set(ca_certs=str(self.broker.ca_file) if self.broker.ca_file else None)
        c.will_set(
            self._status_topic,
            self._sign(DeviceStatus(device_id=self.device_id, online=False)),
            qos=1,
            retain=True,
        )
        c.reconnect_delay_set(
            min_delay=max(1, round(self.broker.reconnect_min_s)),
            max_delay=max(1, round(self.broker.reconnect_max_s)),
        )
        c.max_inflight_messages_set(max(20, self.window))
        c.max_queued_messages_set(0)
        c.on_socket_open = _no_delay
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        return c

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (a broker that is down is retried, never fatal)."""
        self._client.connect_async(
            self.broker.host,
            self.broker.port,
            keepalive=self.broker.keepalive_s,
            **connect_kwargs(
                self.broker.mqtt_version, session_expiry_s=self.broker.session_expiry_s
            ),
        )
        self._client.loop_start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="outbox-publisher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop publishing, announce ``online=False`` (retained) and disconnect cleanly.
        Unacked events stay in the outbox for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._connected.is_set():
            info = self._client.publish(
                self._status_topic,
                self._sign(DeviceStatus(device_id=self.device_id, online=False)),
                qos=1,
                retain=True,
            )
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as e:
                log.warning("offline status not confirmed: %s", e)
        self._connected.clear()  # a requested disconnect is not worth a warning
        self._client.disconnect()
        self._client.loop_stop()
        try:
            self._apply_acks()  # acks that arrived after the publisher stopped
        except Exception:
            log.exception("could not apply the last acks (the events will be resent)")

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def wake(self) -> None:
        """Tell the publisher there is something new (called by ``Outbox.put``)."""
        self._wake.set()

    def add_connect_listener(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` (in paho's thread) after every successful (re)connect."""
        self._connect_listeners.append(fn)

    def subscribe(self, topic: str, callback: MessageCallback) -> None:
        """Receive ``topic`` (e.g. the gallery announcement) now and after reconnects.
        ``callback(topic, payload)`` runs in paho's thread: keep it short."""
        self._subs[topic] = callback
        if self.connected:
            self._client.subscribe(topic, qos=1)

    def publish_status(self, status: DeviceStatus) -> None:
        """Publish a retained status (signed with the device key when one is set)."""
        if not self.connected:
            return  # a stale heartbeat is worthless; the next interval sends a fresh one
        self._client.publish(self._status_topic, self._sign(status), qos=1, retain=True)

    def publish_snapshot(self, snap: CameraSnapshot) -> bool:
        """Publish a camera thumbnail (signed, QoS 1, not retained: central keeps the latest
        and the broker keeps no copy). False when offline: it is not queued, the next
        round sends a fresh one."""
        if not self.connected:
            return False
        info = self._client.publish(snapshot_topic(self.device_id), self._sign(snap), qos=1)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    # --- paho callbacks (network thread) ------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused connection: %s", reason_code)
            return
        self.stats.connects += 1
        client.subscribe(self._ack_topic, qos=1)
        for topic in self._subs:
            client.subscribe(topic, qos=1)
        log.info(
            "connected to %s:%d (session present: %s)",
            self.broker.host,
            self.broker.port,
            flags.session_present,
        )
        self.outbox.make_all_due()
        self._connected.set()
        self._wake.set()
        for fn in self._connect_listeners:
            try:
                fn()
            except Exception:
                log.exception("connect listener failed")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._connected.is_set():
            log.warning("disconnected from broker: %s", reason_code)
        self._connected.clear()

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == self._ack_topic:
            self._acks.put(msg.payload)
            self._wake.set()
            return
        for topic, cb in self._subs.items():
            if mqtt.topic_matches_sub(topic, msg.topic):
                try:
                    cb(msg.topic, msg.payload)
                except Exception:
                    log.exception("handler for %s failed", msg.topic)

    # --- publisher thread ---------------------------------------------------------------

    def _apply_acks(self) -> None:
        stored: list[str] = []
        while True:
            try:
                payload = self._acks.get_nowait()
            except queue.Empty:
                break
            outcome, ack = parse_ack(
                payload, device_id=self.device_id, central_key=self._central_key
            )
            if outcome is AckOutcome.STORED and ack is not None:
                stored.append(ack.event_id)
            elif outcome is AckOutcome.REJECTED and ack is not None:
                if self.outbox.reject(ack.event_id, ack.reason or "rejected by central"):
                    self.stats.rejected += 1
                    if self._metrics:
                        self._metrics.rejected.inc()
            else:
                self.stats.ignored_acks += 1
        if stored:
            n = self.outbox.delete_many(stored)
            self.stats.acked += n
            if self._metrics:
                self._metrics.acked.inc(n)

    def _publish_due(self) -> None:
        sent: list[str] = []
        for e in self.outbox.due(window=self.window):
            if not self._connected.is_set() or self._stop.is_set():
                break
            info = self._client.publish(self._topic, e.payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break  # connection lost mid-batch; the rest waits for the reconnect
            sent.append(e.event_id)
        if sent:
            resent = self.outbox.mark_sent(sent)
            self.stats.published += len(sent)
            self.stats.resent += resent
            if self._metrics:
                self._metrics.published.inc(len(sent))
                self._metrics.retries.inc(resent)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before the work: a wake during it makes the wait return
            try:
                self._apply_acks()
                if self._connected.is_set():
                    self._publish_due()
                    nxt = self.outbox.next_due_at(window=self.window)
                    wait = 5.0 if nxt is None else min(5.0, max(0.01, nxt - time.time()))
                else:
                    wait = 5.0  # on_connect wakes us
                if self._metrics:
                    self._metrics.outbox_depth.set(self.outbox.depth())
            except Exception:
                log.exception("publisher loop error; retrying in 1 s")
                wait = 1.0
            self._wake.wait(wait)
