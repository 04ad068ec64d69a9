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

A database that is down, locked or refusing for any other reason is an outage
(``is_outage``): the batch stays unacknowledged, ``health()`` says ``database:
unavailable``, and the worker retries with back-off until the database is back, by itself.
Anything else that fails is the message's fault and costs only that message: every step
after receipt (validation, dead-lettering, building, signing and sending the ack) is
total, a message that fails is dead-lettered with a printable reason and acknowledged, so
the broker never redelivers it. A batch that fails is stored one by one to find it.

The worker thread runs under a supervisor: if it dies anyway (a bug, a fault), it is
restarted with back-off (``ingest.restart_min_s`` doubling to ``restart_max_s``) and
``health()`` reports ``worker: restarting`` meanwhile. What the dead thread held is
retried one message at a time; a message that kills the thread again is dead-lettered
("internal error") and acknowledged instead of being processed a third time.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session, sessionmaker

from central.config import IngestSettings, MqttSettings
from central.ingest.classify import (
    Classified,
    Incoming,
    KeyCache,
    KeyLoadError,
    OccurredWindow,
    Rejected,
    SnapshotGate,
    ack_id,
    classify,
)
from central.ingest.health import (
    DatabaseState,
    IngestHealth,
    IngestMetrics,
    WorkerState,
    is_outage,
)
from central.ingest.store import (
    Outcome,
    dead_letter_row,
    insert_dead_letters,
    load_device_keys,
    store_batch,
)
from central.mqtt_client import new_client
from central.store.db import ping
from central.store.evidence import EvidenceStore
from jaywatch import wire
from jaywatch.mqtt_options import connect_kwargs

log = logging.getLogger(__name__)

TOPICS = (wire.VIOLATION_WILDCARD, wire.STATUS_WILDCARD, wire.SNAPSHOT_WILDCARD)


def make_client(m: MqttSettings, client_id: str, receive_maximum: int) -> mqtt.Client:
    client = new_client(m, client_id, persistent=True, manual_ack=True)
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
    # Messages taken from the queue and not yet stored and acknowledged: what a dying
    # worker thread leaves for the next one.
    _inflight: list[Incoming] = field(default_factory=list)
    _death: str = ""
    _deaths: set[int] = field(default_factory=set)  # worker threads that died of an exception

    def __post_init__(self) -> None:
        self.client_id = self.client_id or self.mqtt_settings.client_id
        self.worker = WorkerState(self.settings.stall_s)
        self.window = OccurredWindow(
            ahead=timedelta(seconds=self.settings.occurred_ahead_s),
            behind=timedelta(days=self.settings.occurred_behind_days),
        )
        self.metrics.db_up.set_function(lambda: 1.0 if self.db.up else 0.0)
        self.metrics.worker_up.set_function(lambda: 1.0 if self.worker.state == "running" else 0.0)
        self.metrics.broker_up.set_function(lambda: 1.0 if self._connected.is_set() else 0.0)
        self.metrics.queued.set_function(self._queue.qsize)
        from central.device_metrics import DeviceHealthCollector

        self.metrics.registry.register(DeviceHealthCollector(self.sessions))
        self.keys = KeyCache(self._load_keys)
        self.snapshot_gate = SnapshotGate(self.settings.snapshot_min_interval_s)
        self._flood_logged: dict[str, float] = {}  # device -> when its drops were last logged
        self.client = make_client(
            self.mqtt_settings, self.client_id, min(65535, 2 * self.settings.batch_max)
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._thread: threading.Thread | None = None
        self._supervisor = threading.Thread(
            target=self._supervise, name=f"ingest-{self.client_id}-supervisor", daemon=True
        )

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
        try:
            topic = m.topic
        except UnicodeDecodeError:  # brokers refuse such topics; still never raise here
            topic = bytes(m._topic).decode("utf-8", "replace")
        try:
            ours = any(mqtt.topic_matches_sub(t, topic) for t in TOPICS)
        except Exception:
            ours = False
        if not ours:
            # amqtt 0.12 also sends, on connect, retained messages matching OTHER clients'
            # subscriptions (e.g. the gallery announcement); they are not ours to store.
            log.debug("ingest: ignoring a message on %r (not subscribed)", topic)
            return
        self._queue.put(Incoming(topic, bytes(m.payload), m.mid, self._generation))

    # --- lifecycle ------------------------------------------------------------------------

    def health(self) -> IngestHealth:
        """Whether this worker can store what it receives, for /api/health and tests."""
        connected = self._connected.is_set()
        worker = self.worker.state
        return IngestHealth(
            healthy=self.db.up and connected and worker == "running",
            database="ok" if self.db.up else "unavailable",
            database_error=self.db.error,
            database_down_since=self.db.down_since,
            broker_connected=connected,
            worker=worker,
            worker_restarts=self.worker.restarts,
            worker_error=self.worker.error,
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
        self._supervisor.start()
        if wait_connected and not self._connected.wait(wait_connected):
            log.warning(
                "ingest %s: not connected after %.0fs, retrying", self.client_id, wait_connected
            )
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._supervisor.is_alive():
            self._supervisor.join(35)
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

    def _supervise(self) -> None:
        """Run the worker thread; when it dies, restart it with back-off."""
        delay = self.settings.restart_min_s
        while not self._stop.is_set():
            # _death keeps the last death's cause: the new thread names it in the dead
            # letter of a message that kills it twice.
            t = threading.Thread(target=self._run_guarded, name=f"ingest-{self.client_id}")
            self._thread = t
            started = time.monotonic()
            self.worker.running()
            t.start()
            while t.is_alive():
                t.join(0.5)
            if self._stop.is_set():
                break
            why = self._death if t.ident in self._deaths else "the worker thread ended"
            self.worker.died(why)
            self.counts["worker_restarts"] += 1
            self.metrics.restarts.inc()
            if time.monotonic() - started > 60:  # it had been running fine: start over
                delay = self.settings.restart_min_s
            log.critical(
                "ingest %s: worker thread died (%s); %d message(s) in hand, restarting in %.1f s",
                self.client_id, why, len(self._inflight), delay,
            )  # fmt: skip
            self._stop.wait(delay)
            delay = min(2 * delay, self.settings.restart_max_s)
        self.worker.stop()

    def _run_guarded(self) -> None:
        try:
            self._run()
        except BaseException as e:  # anything at all: the supervisor restarts the thread
            self._death = wire.printable(f"{type(e).__name__}: {e}", 500)
            self._deaths.add(threading.get_ident())
            log.exception("ingest %s: worker thread failed", self.client_id)

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
        # What a dead predecessor held, one message at a time: a message that kills the
        # thread is then alone in hand, and is dead-lettered the next time round.
        carried = list(self._inflight)
        while carried and not self._stop.is_set():
            m = carried[0]
            if m.suspect and m.poison is None:
                m.poison = wire.printable(
                    f"internal error: processing this message stopped the ingest worker "
                    f"({self._death or 'unknown'})",
                    1000,
                )
            m.suspect = True
            self._inflight = list(carried)
            self._handle([m])
            carried.pop(0)
        self._inflight = carried
        last_db_contact = time.monotonic()
        while not self._stop.is_set():
            self.worker.tick()
            batch = self._take_batch()
            if not batch:
                # Idle: still notice (and report) a database that went away, or came back.
                if time.monotonic() - last_db_contact >= self.settings.db_probe_s:
                    self._probe_db()
                    last_db_contact = time.monotonic()
                continue
            self._inflight = batch
            self._handle(batch)
            self._inflight = []
            last_db_contact = time.monotonic()

    def _handle(self, batch: list[Incoming]) -> None:
        """Store ``batch`` (retrying while the database is unavailable), then ack it."""
        delay = self.settings.retry_min_s
        while not self._stop.is_set():
            self.worker.tick()
            try:
                outcomes = self._process(batch)
            except Exception as e:  # an outage (only those leave _process): retry
                self._db_failed(e, delay)
                self.counts["retries"] += 1
                self.metrics.retries.inc()
                self._stop.wait(delay)
                delay = min(2 * delay, self.settings.retry_max_s)
                continue
            self._db_ok()
            self._acknowledge(batch, outcomes)
            return

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

    def _ack_target(self, m: Incoming) -> tuple[str | None, str | None]:
        """(device, ack id) for a rejection of ``m``, from what is already known (no DB):
        a violation on a registered device's topic gets a rejection ack."""
        try:
            parts = m.topic.split("/")
            if len(parts) == 4 and parts[3] == "violation" and parts[2] in self.keys.keys:
                return parts[2], ack_id(m.payload)
        except Exception:
            log.exception("ingest: could not tell who to send a rejection to")
        return None, None

    def _classify(self, m: Incoming) -> Classified:
        """``classify``, total: only an unreadable key table (an outage) raises."""
        if m.poison is not None:
            return Rejected(m, m.poison, *self._ack_target(m))
        try:
            return classify(
                m, self.keys, self.settings.max_payload_bytes, self.window,
                snapshot_gate=self.snapshot_gate,
            )  # fmt: skip
        except KeyLoadError:
            raise
        except Exception as e:  # a bug reached by this input: it costs this message only
            log.exception("ingest: validating a message on %r failed unexpectedly", m.topic)
            reason = f"internal error while validating: {type(e).__name__}: {e}"
            return Rejected(m, wire.printable(reason), *self._ack_target(m))

    def _process(self, batch: list[Incoming]) -> list[Outcome]:
        """Classify and store ``batch``. Raises only for an outage (the caller retries the
        whole batch); whatever fails because of a message ends in the dead-letter table."""
        classified = [self._classify(m) for m in batch]  # may raise: DB down
        raw = self.settings.dead_letter_keep_bytes
        cap = self.settings.dead_letters_max_total_bytes
        limits = {
            "dead_letters_per_topic": self.settings.dead_letters_per_topic,
            "snapshot_min_interval_s": self.settings.snapshot_min_interval_s,
        }
        try:
            with self.sessions.begin() as s:
                return store_batch(s, classified, self.evidence, raw, cap, **limits)
        except Exception as e:
            if is_outage(e):
                raise
            log.warning("ingest: batch of %d refused (%s); storing one by one", len(batch), e)
        # One by one: a message that fails for its content (a poison message) is
        # dead-lettered alone. An outage, even now, raises: retry all (what this loop
        # already committed then comes back as 'duplicate', and a message it already
        # dead-lettered is not dead-lettered again: insert_dead_letters).
        outcomes = []
        for c in classified:
            try:
                with self.sessions.begin() as s:
                    outcomes += store_batch(s, [c], self.evidence, raw, cap, **limits)
            except Exception as e:
                if is_outage(e):
                    raise
                log.warning(
                    "ingest: message on %r refused: %s: %s", c.msg.topic, type(e).__name__, e
                )
                reason = wire.printable(f"storage refused: {type(e).__name__}: {e}")
                r = Rejected(c.msg, reason, *self._ack_target(c.msg))
                outcomes.append(self._dead_letter_alone(r, raw))
        return outcomes

    def _dead_letter_alone(self, r: Rejected, raw: int) -> Outcome:
        rows = [
            dead_letter_row(r, raw),
            # The row itself refused (cannot happen with printable text, but it must not
            # stall ingest): keep at least the fact, the topic and the hash.
            {**dead_letter_row(r, 0), "reason": "storage refused (see the central log)"},
        ]
        for row in rows:
            try:
                with self.sessions.begin() as s:
                    insert_dead_letters(
                        s, [row], self.settings.dead_letters_max_total_bytes,
                        self.settings.dead_letters_per_topic,
                    )  # fmt: skip
                break
            except Exception as e:
                if is_outage(e):
                    raise
                log.exception("ingest: dead letter for %r refused", r.msg.topic)
        else:
            self.counts["unrecorded"] += 1
            log.critical("ingest: message sha256=%s on %r could not be recorded at all",
                         hashlib.sha256(r.msg.payload).hexdigest(), r.msg.topic)  # fmt: skip
        return Outcome("rejected", r.device_id, r.event_id, r.reason)

    def _log_flood(self, device_id: str | None) -> None:
        """Once per device per 10 minutes: its snapshots are being dropped."""
        now = time.monotonic()
        key = device_id or "?"
        if now - self._flood_logged.get(key, -1e9) >= 600:
            self._flood_logged[key] = now
            log.warning(
                "ingest: device %s sends snapshots faster than every %g s per camera: dropping "
                "them (counted on the devices page; logged once per 10 min)",
                key, self.settings.snapshot_min_interval_s,
            )  # fmt: skip

    def _acknowledge(self, batch: list[Incoming], outcomes: list[Outcome]) -> None:
        for m, o in zip(batch, outcomes, strict=True):
            self.counts[o.status] += 1
            if o.status == "snapshot_dropped":
                self._log_flood(o.device_id)
            self.metrics.messages.labels(o.status).inc()
            if o.device_id and o.event_id:
                self._send_ack(m, o)
            # A PUBACK for a message from an older connection would ack the wrong packet
            # id; the broker redelivers it on the new connection instead. mid 0 is a QoS 0
            # message (amqtt sends retained status so): nothing to acknowledge.
            if m.generation == self._generation and m.mid:
                try:
                    self.client.ack(m.mid, 1)
                except Exception:
                    log.exception("ingest: PUBACK of message %d failed", m.mid)

    def _send_ack(self, m: Incoming, o: Outcome) -> None:
        """Build, sign and publish the application ack: never raises."""
        status = o.status if o.status in ("stored", "duplicate") else "rejected"
        try:
            ack = wire.Ack(
                device_id=o.device_id,
                event_id=o.event_id,
                status=status,
                reason=wire.printable(o.reason, 500),
            )
        except ValueError:  # defence in depth: name the payload by its hash instead
            log.exception("ingest: ack for %r not buildable; sending it by payload hash", m.topic)
            try:
                ack = wire.Ack(
                    device_id=o.device_id,
                    event_id=hashlib.sha256(m.payload).hexdigest(),
                    status="rejected" if status == "rejected" else status,
                    reason="see the central log",
                )
            except ValueError:
                log.exception("ingest: no ack can be built for %r", m.topic)
                return
        try:
            if self.signing_key is not None:
                ack = wire.sign_message(ack, self.signing_key)
            self.client.publish(wire.ack_topic(ack.device_id), ack.model_dump_json(), qos=1)
        except Exception:
            log.exception("ingest: sending the ack for %s failed", ack.event_id)
