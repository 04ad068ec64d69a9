"""The MQTT ingest worker.

One paho client per worker on a shared subscription (``$share/<group>/…``), QoS 1,
persistent session (clean_start=False + session expiry), manual PUBACKs. With
``mqtt.mqtt_version: "3.1.1"`` (the demo's embedded broker) it subscribes to the plain
topics with ``clean_session=False`` instead, so only one worker may run (central.config).

1. the network thread only queues messages;
2. the worker thread takes whatever has arrived (up to ``batch_max``), classifies it,
   stores it in ONE transaction and commits;
3. only then it publishes the application acks to the devices and PUBACKs the broker.
   With ``signing_key`` set each ack is signed, so gateways can require central's
   signature (their ``central_public_key``).

A crash anywhere before the commit leaves the messages unacknowledged at the broker,
which redelivers them; the event-id uniqueness turns that redelivery into 'duplicate'.

Only a message the database refuses for its content (``is_data_error``) is dead-lettered.
A database that is down, locked or refusing for any other reason is an outage: the batch
stays unacknowledged, ``health()`` says ``database: unavailable``, and the worker retries
with back-off until the database is back, by itself.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.orm import Session, sessionmaker

from central.config import IngestSettings, MqttSettings
from central.ingest.classify import Incoming, KeyCache, Rejected, classify
from central.ingest.health import DatabaseState, IngestHealth, IngestMetrics, is_data_error
from central.ingest.store import (
    Outcome,
    dead_letter_row,
    insert_dead_letters,
    load_device_keys,
    store_batch,
)
from central.store.db import ping
from central.store.evidence import EvidenceStore
from jaywatch import wire
from jaywatch.mqtt_options import client_kwargs, connect_kwargs

log = logging.getLogger(__name__)

TOPICS = (wire.VIOLATION_WILDCARD, wire.STATUS_WILDCARD)


def make_client(m: MqttSettings, client_id: str, receive_maximum: int) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        manual_ack=True,
        **client_kwargs(m.mqtt_version, persistent=True),
    )
    if m.username:
        client.username_pw_set(m.username, m.password)
    if m.cafile:
        client.tls_set(ca_certs=m.cafile)
    client.reconnect_delay_set(0.2, 5)
    client.max_inflight_messages_set(1000)
    return client


@dataclass
class IngestWorker:
    """Start with ``start()``, stop with ``stop()``; ``counts`` tells what happened,
    ``health()`` whether the database and the broker are reachable."""

    mqtt_settings: MqttSettings
    settings: IngestSettings
    sessions: sessionmaker[Session]
    evidence: EvidenceStore
    client_id: str | None = None
    signing_key: Ed25519PrivateKey | None = None
    counts: Counter = field(default_factory=Counter)
    _queue: queue.Queue = field(default_factory=queue.Queue)
    _stop: threading.Event = field(default_factory=threading.Event)
    _connected: threading.Event = field(default_factory=threading.Event)
    _generation: int = 0
    db: DatabaseState = field(default_factory=DatabaseState)
    metrics: IngestMetrics = field(default_factory=IngestMetrics)

    def __post_init__(self) -> None:
        self.client_id = self.client_id or self.mqtt_settings.client_id
        self.metrics.db_up.set_function(lambda: 1.0 if self.db.up else 0.0)
        self.metrics.broker_up.set_function(lambda: 1.0 if self._connected.is_set() else 0.0)
        self.metrics.queued.set_function(self._queue.qsize)
        from central.device_metrics import DeviceHealthCollector

        self.metrics.registry.register(DeviceHealthCollector(self.sessions))
        self.keys = KeyCache(self._load_keys)
        self.client = make_client(
            self.mqtt_settings, self.client_id, min(65535, 2 * self.settings.batch_max)
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._thread = threading.Thread(target=self._run, name=f"ingest-{self.client_id}")

    def _load_keys(self) -> dict[str, bytes]:
        with self.sessions() as s:
            return load_device_keys(s)

    # --- MQTT callbacks (network thread) -------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, rc: object, _p: object
    ) -> None:
        if getattr(rc, "is_failure", False):
            log.error("MQTT connect refused: %s", rc)
            return
        self._generation += 1
        m = self.mqtt_settings
        if m.mqtt_version == "5":
            client.subscribe([(wire.shared_subscription(t, m.group), 1) for t in TOPICS])
        else:  # no $share in 3.1.1: the config allows one worker only
            client.subscribe([(t, 1) for t in TOPICS])
        self._connected.set()
        log.info("ingest %s connected (generation %d)", self.client_id, self._generation)

    def _on_disconnect(self, *_a: object) -> None:
        self._connected.clear()

    def _on_message(self, _c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        if not any(mqtt.topic_matches_sub(t, m.topic) for t in TOPICS):
            # amqtt 0.12 also sends, on connect, retained messages matching OTHER clients'
            # subscriptions (e.g. the gallery announcement); they are not ours to store.
            log.debug("ingest: ignoring a message on %s (not subscribed)", m.topic)
            return
        self._queue.put(Incoming(m.topic, bytes(m.payload), m.mid, self._generation))

    # --- lifecycle ------------------------------------------------------------------------

    def health(self) -> IngestHealth:
        """Whether this worker can store what it receives, for /api/health and tests."""
        connected = self._connected.is_set()
        return IngestHealth(
            healthy=self.db.up and connected,
            database="ok" if self.db.up else "unavailable",
            database_error=self.db.error,
            database_down_since=self.db.down_since,
            broker_connected=connected,
            queued=self._queue.qsize(),
            counts=dict(self.counts),
        )

    def start(self, wait_connected: float = 10.0) -> IngestWorker:
        if self.settings.metrics_port is not None:
            self.metrics.serve(self.settings.metrics_port, self.settings.metrics_host)
        m = self.mqtt_settings
        kw = connect_kwargs(
            m.mqtt_version,
            session_expiry_s=m.session_expiry_s,
            receive_maximum=min(65535, 2 * self.settings.batch_max),
        )
        self.client.connect_async(m.host, m.port, m.keepalive_s, **kw)
        self.client.loop_start()
        self._thread.start()
        if wait_connected and not self._connected.wait(wait_connected):
            log.warning(
                "ingest %s: not connected after %.0fs, retrying", self.client_id, wait_connected
            )
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.client.disconnect()
        self.client.loop_stop()
        self.metrics.shutdown()

    def run_forever(self) -> None:
        self.start()
        try:
            while not self._stop.wait(1.0):
                pass
        finally:
            self.stop()

    # --- worker thread --------------------------------------------------------------------

    def _take_batch(self) -> list[Incoming]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.linger_ms / 1000
        while len(batch) < self.settings.batch_max:
            try:
                batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        last_db_contact = time.monotonic()
        while not self._stop.is_set():
            batch = self._take_batch()
            if not batch:
                # Idle: still notice (and report) a database that went away, or came back.
                if time.monotonic() - last_db_contact >= self.settings.db_probe_s:
                    self._probe_db()
                    last_db_contact = time.monotonic()
                continue
            delay = self.settings.retry_min_s
            while not self._stop.is_set():
                try:
                    outcomes = self._process(batch)
                except Exception as e:  # the DB is unavailable: ack nothing, back off, retry
                    self._db_failed(e, delay)
                    self.counts["retries"] += 1
                    self.metrics.retries.inc()
                    self._stop.wait(delay)
                    delay = min(2 * delay, self.settings.retry_max_s)
                    continue
                self._db_ok()
                self._acknowledge(batch, outcomes)
                break
            last_db_contact = time.monotonic()

    def _probe_db(self) -> None:
        try:
            # A plain connection, not a session: on SQLite a session begins with BEGIN
            # IMMEDIATE and would wait behind a long write, reporting a false outage.
            ping(self.sessions.kw["bind"])
        except Exception as e:
            self._db_failed(e, self.settings.db_probe_s)
        else:
            self._db_ok()

    def _db_failed(self, e: Exception, retry_in: float) -> None:
        if self.db.failed(e):
            log.error(
                "ingest %s: database unavailable, acknowledging nothing until it is back: %s",
                self.client_id,
                self.db.error,
                exc_info=e,
            )
        else:
            log.warning("ingest %s: database still unavailable (retry in %.1f s): %s",
                        self.client_id, retry_in, self.db.error)  # fmt: skip

    def _db_ok(self) -> None:
        since = self.db.ok()
        if since is not None:
            log.warning("ingest %s: database available again (down since %s)",
                        self.client_id, since.isoformat())  # fmt: skip

    def _process(self, batch: list[Incoming]) -> list[Outcome]:
        """Classify and store ``batch``. Raises when the database is unavailable (the
        caller retries the whole batch); only data errors end in the dead-letter table."""
        limit = self.settings.max_payload_bytes
        classified = [classify(m, self.keys, limit) for m in batch]  # may raise: DB down
        raw = self.settings.dead_letter_raw_bytes
        try:
            with self.sessions.begin() as s:
                return store_batch(s, classified, self.evidence, raw)
        except Exception as e:
            if not is_data_error(e):
                raise
            log.warning("ingest: batch of %d refused (%s); storing one by one", len(batch), e)
        # One by one: a message the DB refuses for its content (a poison message) is
        # dead-lettered alone. Any other failure, even now, is an outage: raise, retry all
        # (what this loop already committed then comes back as 'duplicate', and a message
        # it already dead-lettered is not dead-lettered again: insert_dead_letters).
        outcomes = []
        for c in classified:
            try:
                with self.sessions.begin() as s:
                    outcomes += store_batch(s, [c], self.evidence, raw)
            except Exception as e:
                if not is_data_error(e):
                    raise
                r = Rejected(c.msg, f"storage refused: {type(e).__name__}: {e}")
                with self.sessions.begin() as s:
                    insert_dead_letters(s, [dead_letter_row(r, raw)])
                outcomes.append(Outcome("rejected", None, None, r.reason))
        return outcomes

    def _acknowledge(self, batch: list[Incoming], outcomes: list[Outcome]) -> None:
        for m, o in zip(batch, outcomes, strict=True):
            self.counts[o.status] += 1
            self.metrics.messages.labels(o.status).inc()
            if o.device_id and o.event_id:
                ack = wire.Ack(
                    device_id=o.device_id,
                    event_id=o.event_id,
                    status=o.status if o.status in ("stored", "duplicate") else "rejected",
                    reason=o.reason[:500],
                )
                if self.signing_key is not None:
                    ack = wire.sign_message(ack, self.signing_key)
                self.client.publish(wire.ack_topic(o.device_id), ack.model_dump_json(), qos=1)
            # A PUBACK for a message from an older connection would ack the wrong packet
            # id; the broker redelivers it on the new connection instead. mid 0 is a QoS 0
            # message (amqtt sends retained status so): nothing to acknowledge.
            if m.generation == self._generation and m.mid:
                self.client.ack(m.mid, 1)
