"""Gallery version announcements (retained on ``wire.GALLERY_TOPIC``).

The announcement names a stored snapshot (central.workflow.gallery): its version, the
sha256 of the file (edges check it after download) and the download URL. The URL carries
the version's random download token: the file holds face embeddings, and only readers of
the announcement — devices, by the broker ACL — learn the token.

A version counts as announced (``GalleryVersion.announced_at``) only once the broker has
acknowledged the retained publish (PUBACK). A version stored while the broker was down
stays pending; ``central serve`` runs a :class:`GalleryAnnouncer` that publishes the newest
stored version at start-up and whenever it is pending, retrying with back-off, and checks
periodically that the broker still retains it (a broker restarted without persistence
forgets it). Announcing a version again is harmless: an edge that holds a file with the
announced sha256 does nothing (edge/gallery_sync.py).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session, sessionmaker

from central.config import MqttSettings
from central.mqtt_client import new_client
from central.store.models import GalleryVersion, utcnow
from central.workflow.gallery import latest_snapshot
from jaywatch import wire

log = logging.getLogger(__name__)


def announcement(gv: GalleryVersion, base_url: str) -> wire.GalleryAnnouncement:
    """Raises ValueError for a version without a stored file (nothing to fetch)."""
    if gv.snapshot_sha256 is None or gv.download_token is None:
        raise ValueError(f"gallery {gv.version}: no stored snapshot to announce")
    return wire.GalleryAnnouncement(
        device_id="central",
        version=str(gv.version),
        sha256=gv.snapshot_sha256,
        url=f"{base_url.rstrip('/')}/api/gallery/{gv.version}/{gv.download_token}",
    )


def _client(m: MqttSettings, suffix: str) -> mqtt.Client:
    """A short-lived, clean-session client of central's broker settings."""
    return new_client(m, f"{m.client_id}-{suffix}", persistent=False)


def publish_retained(
    m: MqttSettings,
    msg: wire.GalleryAnnouncement,
    timeout: float = 10,
    signing_key: Ed25519PrivateKey | None = None,
) -> None:
    """Publish the announcement retained (QoS 1), so edges that connect later see it.
    With ``signing_key`` (central's key) it is signed here, the one place every
    announcement passes, so gateways can require central's signature.

    Returns only once the broker acknowledged the message (PUBACK).

    Raises:
        OSError: the broker is unreachable (``ConnectionRefusedError``), refused the
            login or the publish, or sent no PUBACK within ``timeout`` (``TimeoutError``).
    """
    if signing_key is not None:
        msg = wire.sign_message(msg, signing_key)
    c = _client(m, "gallery")
    refused: list[Any] = []  # CONNACK / PUBACK failure reason codes (paho's thread)

    def on_connect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if rc.is_failure:
            refused.append(f"connection refused: {rc}")

    def on_publish(_c: Any, _u: Any, _mid: int, rc: Any, _p: Any = None) -> None:
        if rc.is_failure:  # MQTT 5 only, e.g. "Not authorized" from the ACL
            refused.append(f"publish refused: {rc}")

    c.on_connect, c.on_publish = on_connect, on_publish
    c.connect(m.host, m.port, m.keepalive_s)
    c.loop_start()
    try:
        info = c.publish(wire.GALLERY_TOPIC, msg.model_dump_json(), qos=1, retain=True)
        lost = ""
        try:
            info.wait_for_publish(timeout)
        except RuntimeError as e:  # the connection closed before the message left
            lost = str(e)
        if refused:
            raise ConnectionRefusedError(f"broker {m.host}:{m.port}: {refused[0]}")
        if lost:
            raise ConnectionError(f"broker {m.host}:{m.port}: {lost}")
        if not info.is_published():
            raise TimeoutError(f"broker {m.host}:{m.port}: no PUBACK within {timeout:g} s")
    finally:
        c.disconnect()
        c.loop_stop()


def announce_latest(
    sessions: sessionmaker[Session],
    m: MqttSettings,
    base_url: str,
    signing_key: Ed25519PrivateKey | None = None,
    timeout: float = 10,
) -> int | None:
    """Publish the newest stored snapshot retained and mark it announced once the broker
    acknowledged it; the version announced, or None when no snapshot is stored.

    After each publish the newest version is read again and, if another one was stored
    meanwhile (a concurrent upload or erasure, possibly in another central process whose
    publish the broker took first), that one is published too: the retained message ends
    as the newest version, never an older one.

    Raises:
        OSError: from :func:`publish_retained`; the version stays pending.
        sqlalchemy.exc.SQLAlchemyError: the database is unavailable.
    """
    published: int | None = None
    while True:
        with sessions() as s:
            gv = latest_snapshot(s)
            if gv is None or gv.version == published:
                return published
            msg = announcement(gv, base_url)
        publish_retained(m, msg, timeout, signing_key)
        published = gv.version
        with sessions.begin() as s:
            s.execute(
                sa.update(GalleryVersion)
                .where(GalleryVersion.version == published, GalleryVersion.announced_at.is_(None))
                .values(announced_at=utcnow())
            )
        log.info("gallery %s announced (sha256 %s)", msg.version, msg.sha256)


def read_retained(m: MqttSettings, timeout: float = 10) -> bytes | None:
    """The payload the broker retains on ``wire.GALLERY_TOPIC``, or None when it holds none.

    Subscribes (QoS 0, clean session) and unsubscribes at once: the broker handles a
    client's packets in order, so a retained message, sent right after the SUBACK, arrives
    before the UNSUBACK; nothing by then means nothing is retained.

    Raises:
        OSError: the broker is unreachable, refused the login or the subscription, or did
            not answer within ``timeout`` (``TimeoutError``).
    """
    c = _client(m, "gallery-check")
    got: list[bytes] = []
    refused: list[str] = []
    done = threading.Event()

    def on_connect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if rc.is_failure:
            refused.append(f"connection refused: {rc}")
            done.set()
        else:
            c.subscribe(wire.GALLERY_TOPIC, qos=0)

    def on_subscribe(_c: Any, _u: Any, _mid: int, rcs: list[Any], _p: Any = None) -> None:
        if any(rc.is_failure for rc in rcs):  # e.g. the ACL denies central to read it
            refused.append(f"subscription to {wire.GALLERY_TOPIC} refused: {rcs[0]}")
            done.set()
        else:
            c.unsubscribe(wire.GALLERY_TOPIC)

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.retain:
            got.append(msg.payload)

    c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
    c.on_unsubscribe = lambda *_a: done.set()
    c.connect(m.host, m.port, m.keepalive_s)
    c.loop_start()
    try:
        if not done.wait(timeout):
            raise TimeoutError(f"broker {m.host}:{m.port}: no UNSUBACK within {timeout:g} s")
        if refused:
            raise ConnectionRefusedError(f"broker {m.host}:{m.port}: {refused[0]}")
    finally:
        c.disconnect()
        c.loop_stop()
    return got[-1] if got else None


def is_current(
    payload: bytes | None, latest: wire.GalleryAnnouncement, public_key: bytes | None
) -> bool:
    """Whether a retained payload announces ``latest`` (same version, file and URL) and,
    when central signs (``public_key``), carries central's valid signature. Each publish
    has its own ``created`` time, so the payloads are compared field by field."""
    if payload is None:
        return False
    try:
        got = wire.parse_message(payload)
    except ValueError:
        return False
    if not isinstance(got, wire.GalleryAnnouncement):
        return False
    if (got.device_id, got.version, got.sha256, got.url) != (
        latest.device_id,
        latest.version,
        latest.sha256,
        latest.url,
    ):
        return False
    return public_key is None or wire.verify_message(got, public_key)


def pending_version(session: Session) -> int | None:
    """The newest stored version if its announcement has not been acknowledged yet."""
    gv = latest_snapshot(session)
    return gv.version if gv is not None and gv.announced_at is None else None


class GalleryAnnouncer:
    """Keeps the broker's retained announcement at the newest stored gallery version, for
    ``central serve``: announces once at start-up (the broker may have lost it, or the
    previous process died before its PUBACK), then whenever the newest version is pending
    — checked every ``poll_s`` (uploads and erasures by other processes, e.g. the CLI) or
    at once after :meth:`wake` — retrying with back-off from ``retry_min_s`` doubling to
    ``retry_max_s`` while the broker or the database is down. Every ``retained_check_s``
    (None: never) it reads what the broker retains and republishes when that is missing or
    not the newest version's announcement: a broker restarted without persistence has
    lost it, and edges connecting later would otherwise never learn the version.

    Several central processes may each run one: they all publish the newest version.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        mqtt_settings: MqttSettings,
        base_url: str,
        signing_key: Ed25519PrivateKey | None = None,
        *,
        poll_s: float = 10.0,
        retry_min_s: float = 1.0,
        retry_max_s: float = 60.0,
        publish_timeout_s: float = 10.0,
        retained_check_s: float | None = 300.0,
    ) -> None:
        self._sessions = sessions
        self._mqtt = mqtt_settings
        self._base_url = base_url
        self._key = signing_key
        self.poll_s, self.retry_min_s, self.retry_max_s = poll_s, retry_min_s, retry_max_s
        self.publish_timeout_s = publish_timeout_s
        self.retained_check_s = retained_check_s
        self._public_key = wire.public_key_bytes(signing_key) if signing_key else None
        self._next_check = 0.0  # time.monotonic() of the next retained check
        self.announced: int | None = None  # last version this process announced
        self.failures = 0  # failed attempts since start
        self.checks = 0  # retained checks done since start
        self.republished = 0  # of them, those that found the retained message wrong
        self.last_error = ""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> GalleryAnnouncer:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gallery-announcer", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """A version was just stored here: check (and announce) now, not at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        force = True  # start-up: make sure the broker holds the newest version
        delay = self.retry_min_s
        while not self._stop.is_set():
            try:
                if force or self._pending():
                    self.announced = announce_latest(
                        self._sessions,
                        self._mqtt,
                        self._base_url,
                        self._key,
                        self.publish_timeout_s,
                    )
                    force = False
                    self.last_error = ""
                    self._schedule_check()
                elif self._check_due():
                    self._check_retained()
                    self.last_error = ""
                delay, wait = self.retry_min_s, self.poll_s
            except (OSError, RuntimeError, ValueError, sa.exc.SQLAlchemyError) as e:
                # OSError: broker down or refusing; RuntimeError/ValueError: paho could not
                # queue the message; SQLAlchemyError: the database is down.
                self.failures += 1
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning("gallery announcement failed (retrying in %.0f s): %s", delay, e)
                wait, delay = delay, min(delay * 2, self.retry_max_s)
            self._wake.wait(wait)
            self._wake.clear()

    def _schedule_check(self) -> None:
        if self.retained_check_s is not None:
            self._next_check = time.monotonic() + self.retained_check_s

    def _check_due(self) -> bool:
        return self.retained_check_s is not None and time.monotonic() >= self._next_check

    def _check_retained(self) -> None:
        """Republish the newest version if the broker does not retain its announcement."""
        with self._sessions() as s:
            gv = latest_snapshot(s)
            latest = announcement(gv, self._base_url) if gv is not None else None
        if latest is not None:
            retained = read_retained(self._mqtt, self.publish_timeout_s)
            if not is_current(retained, latest, self._public_key):
                log.warning(
                    "gallery %s: the broker %s its announcement; republishing",
                    latest.version,
                    "lost" if retained is None else "retains another payload than",
                )
                self.announced = announce_latest(
                    self._sessions, self._mqtt, self._base_url, self._key, self.publish_timeout_s
                )
                self.republished += 1
        self.checks += 1
        self._schedule_check()

    def _pending(self) -> bool:
        with self._sessions() as s:
            return pending_version(s) is not None
