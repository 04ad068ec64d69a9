"""A stand-in for central's ingest in edge delivery tests, built only on jaywatch.wire.

It does what the contract asks of central: subscribe to every device's violations
(shared subscription, persistent session), verify the device signature, store each event
once by event id, and answer on the device's ack topic (``stored``, ``duplicate`` or
``rejected``). Central's real ingest replaces it in the end-to-end tests.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.gateway_config import BrokerConfig
from jaywatch.wire import (
    STATUS_WILDCARD,
    VIOLATION_WILDCARD,
    Ack,
    DeviceStatus,
    SignalEvidence,
    ViolationEvent,
    ack_topic,
    parse_message,
    shared_subscription,
    sign_message,
    verify_message,
)

EVENT_NS = uuid.UUID("6f1c1f0e-8a6b-4a53-9d1e-0a7c3d1b2e55")


def event_id_for(device_id: str, i: int) -> str:
    """Deterministic event ids, so a test knows every id a child process may have made."""
    return str(uuid.uuid5(EVENT_NS, f"{device_id}/{i}"))


def make_event(
    device_id: str, camera_id: str, key: Ed25519PrivateKey, i: int, *, jpeg: bytes = b""
) -> ViolationEvent:
    import base64

    from jaywatch.wire import EvidenceImage

    ev = ViolationEvent(
        device_id=device_id,
        event_id=event_id_for(device_id, i),
        camera_id=camera_id,
        occurred=datetime.now(UTC),
        t=float(i),
        frame=i,
        track_id=i % 97,
        bbox=(10.0, 20.0, 60.0, 180.0),
        signal=SignalEvidence(phase="red", red_for_s=4.5, roi=(0, 0, 10, 20)),
        zone=[(0.0, 100.0), (640.0, 100.0), (640.0, 480.0)],
        grace_s=0.5,
        evidence=[
            EvidenceImage(
                role="entry", frame=i, t=float(i), jpeg_b64=base64.b64encode(jpeg).decode()
            )
        ]
        if jpeg
        else [],
    )
    return sign_message(ev, key)


def wait_until(pred: Callable[[], bool], timeout: float, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def broker_config(broker, **kw: object) -> BrokerConfig:
    """A gateway BrokerConfig pointing at a test broker (fast reconnects)."""
    fields: dict[str, object] = {
        "host": broker.host,
        "port": broker.port,
        "tls": bool(broker.tls),
        "ca_file": Path(broker.cafile) if broker.tls else None,
        "reconnect_min_s": 1,
        "reconnect_max_s": 2,
        "keepalive_s": 10,
    }
    return BrokerConfig.model_validate({**fields, **kw})


def _no_delay(client: mqtt.Client, userdata: object, sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@dataclass
class Acker:
    """Central stand-in: verify, store once by event id, ack."""

    host: str
    port: int
    device_keys: dict[str, bytes]
    username: str | None = None
    password: str | None = None
    cafile: Path | None = None
    client_id: str = "central-test"
    central_key: Ed25519PrivateKey | None = None
    store: dict[str, ViolationEvent] = field(default_factory=dict)
    arrivals: list[ViolationEvent] = field(default_factory=list)  # every delivery, in order
    rejected: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, DeviceStatus] = field(default_factory=dict)
    stored_at: dict[str, float] = field(default_factory=dict)  # time.monotonic() of the store
    stored_acks: int = 0
    duplicate_acks: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5
        )
        if self.username:
            c.username_pw_set(self.username, self.password)
        if self.cafile:
            c.tls_set(ca_certs=str(self.cafile))
        c.reconnect_delay_set(1, 2)
        c.on_socket_open = _no_delay  # acks are small writes: no Nagle delay
        c.on_connect = self._on_connect
        c.on_subscribe = lambda *_a: self._subscribed.set()
        c.on_message = self._on_message
        self.client = c

    def start(self, timeout: float = 10.0) -> Acker:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect_async(self.host, self.port, clean_start=False, properties=props)
        self.client.loop_start()
        wait_until(self._subscribed.is_set, timeout, "central subscription")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self._subscribed.clear()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            client.subscribe([(shared_subscription(VIOLATION_WILDCARD), 1), (STATUS_WILDCARD, 1)])

    def _ack(self, device_id: str, event_id: str, status: str, reason: str = "") -> None:
        ack = Ack(device_id=device_id, event_id=event_id, status=status, reason=reason)  # type: ignore[arg-type]
        if self.central_key is not None:
            ack = sign_message(ack, self.central_key)
        self.client.publish(ack_topic(device_id), ack.model_dump_json(), qos=1)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        topic_device = msg.topic.split("/")[2]
        try:
            m = parse_message(msg.payload)
        except ValueError:
            return  # central would dead-letter it
        if isinstance(m, DeviceStatus):
            with self._lock:
                self.statuses[topic_device] = m
            return
        if not isinstance(m, ViolationEvent):
            return
        with self._lock:
            self.arrivals.append(m)
            key = self.device_keys.get(topic_device)
            if m.device_id != topic_device or key is None or not verify_message(m, key):
                self.rejected[m.event_id] = "bad signature or device"
                status = "rejected"
            elif m.event_id in self.store:
                self.duplicate_acks += 1
                status = "duplicate"
            else:
                self.store[m.event_id] = m
                self.stored_at[m.event_id] = time.monotonic()
                self.stored_acks += 1
                status = "stored"
        self._ack(
            topic_device,
            m.event_id,
            status,
            "signature check failed" if status == "rejected" else "",
        )
