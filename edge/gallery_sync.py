"""Gallery updates on the edge: follow central's retained announcement, fetch, verify, swap.

    central ─retained GalleryAnnouncement(version, sha256, url)─► MqttLink.subscribe
        └► fetch thread: HTTP(S) GET → temp file (hashed while written) → sha256 check
           → Gallery.load (validates) → set_gallery on every face stage (all or none)
           → os.replace into the configured path → health reports the new version

Why this order: the file on disk is replaced only after the new gallery has been
accepted by every running face stage, so a restart never loads a gallery the running
process refused; the in-memory swap is one reference assignment per stage, so an erased
person stops matching from the next decision on. Anything that goes wrong (network,
wrong hash, corrupt file, a model mismatch) is logged and counted, ``version`` stays the
old one (and so does the health report), and the same announcement is retried with
back-off; nothing here can take the gateway down.

The announcement is retained on the broker, so a gateway that was off during an update
receives the newest one when it reconnects. Only central's broker user may write the
topic (config/mosquitto/jaywatch.acl); with ``central_public_key`` configured the
announcement must also carry central's signature.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import ssl
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from edge.gallery.store import Gallery, GalleryError
from edge.gateway_config import GalleryConfig
from jaywatch.wire import GALLERY_TOPIC, GalleryAnnouncement, parse_message, verify_message

log = logging.getLogger(__name__)

_CHUNK = 1 << 16


class GalleryTarget(Protocol):
    """A running face stage that can take a new gallery (edge.faces.stage.ViolatorFaces)."""

    def set_gallery(self, gallery: Gallery | None) -> None: ...


class Subscriber(Protocol):
    """What the sync needs from the MQTT link (edge.transport.mqtt.MqttLink)."""

    def subscribe(self, topic: str, callback: Callable[[str, bytes], None]) -> None: ...


class GallerySyncError(RuntimeError):
    """One failed update attempt; the message says which step and why."""


@dataclass
class SyncState:
    """What the sync knows, for health and tests."""

    version: str = ""  # installed gallery version ("" when none)
    sha256: str = ""  # of the installed file
    wanted: GalleryAnnouncement | None = None  # newest accepted announcement
    last_error: str = ""
    failures: int = 0  # failed attempts since start
    refused: int = 0  # announcements ignored (unparsable or badly signed)
    installs: int = 0  # successful swaps since start


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _as_int(v: str) -> int | None:
    try:
        return int(v)
    except ValueError:
        return None


class GallerySync:
    """Keeps ``cfg.path`` and the running face stages at central's announced gallery."""

    def __init__(
        self,
        cfg: GalleryConfig,
        targets: Sequence[GalleryTarget],
        *,
        central_public_key: bytes | None = None,
        on_installed: Callable[[str], None] | None = None,
        registry: object | None = None,
    ) -> None:
        self.cfg = cfg
        self.targets = list(targets)
        self.state = SyncState()
        self._central_key = central_public_key
        self._on_installed = on_installed
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._current: Gallery | None = None
        self._metrics = _SyncMetrics(registry) if registry is not None else None
        self._read_installed()

    # --- state ---------------------------------------------------------------------------

    def _read_installed(self) -> None:
        """Version and hash of the gallery already on disk (from an earlier run)."""
        p = self.cfg.path
        if not p.is_file():
            return
        try:
            g = Gallery.load(p)
        except GalleryError as e:
            # The stages were given the same file at start and would have refused it too;
            # an announcement replaces it.
            log.error("installed gallery unusable, waiting for an update: %s", e)
            return
        self._current = g
        self.state.version = str(g.gallery_version)
        self.state.sha256 = _file_sha256(p)
        self._set_version_metric()

    def version(self) -> str:
        """The installed gallery version, for the health status ("" when none)."""
        return self.state.version

    # --- announcements (paho's thread: only record and wake) -----------------------------

    def attach(self, link: Subscriber) -> None:
        """Follow the retained announcement on ``link`` (kept across reconnects)."""
        link.subscribe(GALLERY_TOPIC, self.on_message)

    def on_message(self, topic: str, payload: bytes) -> None:
        if not payload:  # a cleared retained message
            return
        try:
            msg = parse_message(payload)
        except ValueError as e:
            log.warning("ignoring unparsable gallery announcement: %s", e)
            self.state.refused += 1
            return
        if not isinstance(msg, GalleryAnnouncement):
            log.warning("ignoring %s message on %s", msg.kind, topic)  # type: ignore[attr-defined]
            self.state.refused += 1
            return
        if self._central_key is not None and not verify_message(msg, self._central_key):
            log.warning("ignoring gallery announcement %s: bad or missing signature", msg.version)
            self.state.refused += 1
            return
        with self._lock:
            self.state.wanted = msg
        self._wake.set()

    # --- worker --------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gallery-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _pending(self) -> GalleryAnnouncement | None:
        with self._lock:
            ann = self.state.wanted
        if ann is None or ann.sha256.lower() == self.state.sha256:
            return None
        new, cur = _as_int(ann.version), _as_int(self.state.version)
        if new is not None and cur is not None and new < cur:
            return None  # an older announcement than what is installed: never roll back
        return ann

    def _run(self) -> None:
        delay = self.cfg.retry_min_s
        while not self._stop.is_set():
            ann = self._pending()
            if ann is None:
                self._wake.wait()
                self._wake.clear()
                continue
            try:
                self.install(ann)
                delay = self.cfg.retry_min_s
            except Exception as e:  # never let an update take the gateway down
                self.state.failures += 1
                self.state.last_error = f"gallery {ann.version}: {e}"
                if self._metrics:
                    self._metrics.failures.inc()
                log.error("gallery update failed (retrying in %.0f s): %s", delay, e)
                self._wake.clear()
                self._wake.wait(delay)  # a newer announcement wakes us early
                delay = min(delay * 2, self.cfg.retry_max_s)

    def install(self, ann: GalleryAnnouncement) -> None:
        """Fetch, verify and swap in ``ann``'s snapshot (raises GallerySyncError)."""
        dest = self.cfg.path
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                digest = self._download(ann.url, f)
                f.flush()
                os.fsync(f.fileno())
            if digest != ann.sha256.lower():
                raise GallerySyncError(
                    f"sha256 of {ann.url} is {digest}, the announcement says {ann.sha256}"
                )
            try:
                gallery = Gallery.load(tmp)
            except GalleryError as e:
                raise GallerySyncError(f"snapshot refused: {e}") from None
            if str(gallery.gallery_version) != ann.version:
                raise GallerySyncError(
                    f"snapshot holds gallery_version {gallery.gallery_version}, "
                    f"the announcement says {ann.version}"
                )
            self._swap(gallery)
            os.replace(tmp, dest)
            _fsync_dir(dest.parent)
        finally:
            tmp.unlink(missing_ok=True)
        self._current = gallery
        self.state.version, self.state.sha256 = ann.version, digest
        self.state.last_error = ""
        self.state.installs += 1
        self._set_version_metric()
        log.info("gallery %s installed (%d persons)", ann.version, len(gallery.persons))
        if self._on_installed is not None:
            self._on_installed(ann.version)

    def _swap(self, gallery: Gallery) -> None:
        """All stages take the new gallery, or all keep the old one."""
        done: list[GalleryTarget] = []
        try:
            for t in self.targets:
                t.set_gallery(gallery)
                done.append(t)
        except Exception as e:
            for t in done:
                with contextlib.suppress(Exception):
                    t.set_gallery(self._current)
            raise GallerySyncError(f"a face stage refused the gallery: {e}") from None

    def _download(self, url: str, out: BinaryIO) -> str:
        import httpx

        if not url.startswith(("https://", "http://")):
            raise GallerySyncError(f"url: expected http(s)://..., got {url!r}")
        verify: ssl.SSLContext | bool = True
        if self.cfg.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(self.cfg.ca_file))
        h = hashlib.sha256()
        size = 0
        try:
            with (
                httpx.Client(verify=verify, timeout=self.cfg.timeout_s) as client,
                client.stream("GET", url) as r,
            ):
                if r.status_code != 200:
                    raise GallerySyncError(f"GET {url}: HTTP {r.status_code}")
                for chunk in r.iter_bytes(_CHUNK):
                    size += len(chunk)
                    if size > self.cfg.max_bytes:
                        raise GallerySyncError(
                            f"GET {url}: larger than gallery.max_bytes ({self.cfg.max_bytes})"
                        )
                    h.update(chunk)
                    out.write(chunk)
        except httpx.HTTPError as e:
            raise GallerySyncError(f"GET {url}: {type(e).__name__}: {e}") from None
        return h.hexdigest()

    def _set_version_metric(self) -> None:
        if self._metrics:
            v = _as_int(self.state.version)
            self._metrics.version.set(v if v is not None else -1)


def _fsync_dir(d: Path) -> None:
    """Make the rename itself durable (a power cut must not bring the old file back)."""
    with contextlib.suppress(OSError):
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _SyncMetrics:
    def __init__(self, registry: object) -> None:
        from prometheus_client import Counter, Gauge

        self.version = Gauge(
            "jaywatch_gallery_version", "Installed gallery version (-1 none)", registry=registry
        )
        self.failures = Counter(
            "jaywatch_gallery_update_failures", "Failed gallery update attempts", registry=registry
        )
        self.version.set(-1)
