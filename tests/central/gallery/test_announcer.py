"""Central republishes a gallery announcement by itself: a version uploaded while the
broker was down is announced (retained, signed) once the broker is back, with no CLI
call; a restarted central announces the same version again, which edges ignore.

Real mosquitto (stopped and restarted on the same port, persistence on), real SQLite and
PostgreSQL, real ``jaywatch central`` commands, real edge ``GallerySync``.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from central.config import ApiSettings, MqttSettings
from central.context import Context
from central.gallery_announcer import (
    GalleryAnnouncer,
    announce_latest,
    pending_version,
    publish_retained,
    read_retained,
)
from central.store.models import GalleryVersion
from central.workflow import gallery, persons
from edge.gallery_sync import GallerySync
from edge.gateway_config import GalleryConfig
from jaywatch import wire
from jaywatch.mqtt_options import MqttVersion
from jaywatch_app.cli import main
from tests.central.gallery.test_cli import BASE, _config, _retained
from tests.central.gallery.test_snapshots import synthetic
from tests.central.helpers import ADMIN, REPO, make_context
from tests.integration.helpers import wait_until
from tests.services import Broker, free_port

pytestmark = pytest.mark.broker


class Watcher:
    """An edge's view of the gallery topic: every announcement (retained or live), in order."""

    def __init__(self, broker: Broker, client_id: str = "watching-edge") -> None:
        self.payloads: list[bytes] = []
        self.retain_flags: list[bool] = []  # False: a live publish, True: the retained one
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)

        def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
            self.retain_flags.append(bool(m.retain))
            self.payloads.append(m.payload)

        self.c.on_message = on_message
        subscribed = threading.Event()
        self.c.on_subscribe = lambda *_a: subscribed.set()
        self.c.connect(broker.host, broker.port)
        self.c.subscribe(wire.GALLERY_TOPIC, qos=1)
        self.c.loop_start()
        assert subscribed.wait(10), "watcher not subscribed"

    def messages(self) -> list[wire.GalleryAnnouncement]:
        out = [wire.parse_message(p) for p in self.payloads]
        assert all(isinstance(m, wire.GalleryAnnouncement) for m in out)
        return out  # type: ignore[return-value]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def ctx(db_url: str, tmp_path: Path) -> Iterator[Context]:
    c = make_context(db_url, tmp_path, api=ApiSettings(base_url=BASE))
    with c.sessions.begin() as s:
        for pid in ("p-1", "p-2"):
            persons.enrol(s, ADMIN, c.rules, "+447400123456", "order", None, pid)
    yield c
    c.close()


def _pending(ctx: Context) -> int | None:
    with ctx.sessions() as s:
        return pending_version(s)


def _edge_holding(ctx: Context, tmp_path: Path, version: int) -> GallerySync:
    """An edge gallery sync whose installed file is central's stored ``version``."""
    with ctx.sessions() as s:
        sha = s.get(GalleryVersion, version).snapshot_sha256  # type: ignore[union-attr]
    cfg = GalleryConfig(path=tmp_path / "edge" / "gallery.npz")
    cfg.path.parent.mkdir(exist_ok=True)
    cfg.path.write_bytes(ctx.evidence.get(sha))
    return GallerySync(cfg, [])


@pytest.mark.timeout(120)
def test_upload_while_broker_down_is_announced_when_it_returns(
    ctx: Context,
    db_url: str,
    tmp_path: Path,
    make_broker: Callable[..., Broker],
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = tmp_path / "central.pem"
    assert main(["central", "keygen", "--out", str(key)]) == 0
    public = base64.b64decode(capsys.readouterr().out.strip())
    broker = make_broker()
    broker.stop()  # down for the upload; restarted on the same port below
    cfg = _config(tmp_path, db_url, broker.port, key)
    gal = tmp_path / "gallery.npz"
    gal.write_bytes(synthetic({"p-1": 2, "p-2": 1}).to_bytes())

    assert main(["central", "--config", str(cfg), "gallery", "upload", str(gal)]) == 1
    err = capsys.readouterr().err
    assert "pending" in err and "central serve" in err
    assert _pending(ctx) == 1  # stored, announcement pending

    from central.config import load_config, load_signing_key

    signing_key = load_signing_key(load_config(cfg))
    m = MqttSettings(host=broker.host, port=broker.port, client_id="central-serve")
    announcer = GalleryAnnouncer(
        ctx.sessions, m, BASE, signing_key, poll_s=0.2, retry_min_s=0.1, retry_max_s=0.5
    ).start()
    try:
        wait_until(lambda: announcer.failures >= 2, 30, "failed attempts while the broker is down")
        assert _pending(ctx) == 1 and announcer.announced is None
        assert "ConnectionRefusedError" in announcer.last_error

        broker.start()  # same port, same configuration
        # the pending mark is cleared in the DB just before the announcer records the
        # version it announced: wait for both (under load the test saw the first alone)
        wait_until(
            lambda: _pending(ctx) is None and announcer.announced is not None,
            30,
            "the pending mark cleared and the announcement recorded",
        )
        assert announcer.announced == 1
    finally:
        announcer.stop()
    with ctx.sessions() as s:
        gv = s.get(GalleryVersion, 1)
        assert gv is not None and gv.announced_at is not None
    ann = _retained(broker)  # a gateway connecting now gets it, signed as before
    assert ann.version == "1" and ann.sha256 == gv.snapshot_sha256
    assert ann.url == f"{BASE}/api/gallery/1/{gv.download_token}"
    assert wire.verify_message(ann, public)

    # Central restarts: it announces version 1 again at start-up (the broker might have
    # lost it). An edge that holds version 1 sees the same version and hash: nothing to do.
    watcher = Watcher(broker)
    try:
        wait_until(lambda: len(watcher.payloads) == 1, 10, "the retained announcement")
        restarted = GalleryAnnouncer(ctx.sessions, m, BASE, signing_key, poll_s=0.2).start()
        try:
            wait_until(lambda: len(watcher.payloads) == 2, 30, "the start-up announcement")
            # The watcher can see the message before the announcer has recorded its PUBACK.
            wait_until(lambda: restarted.announced == 1, 10, "the announcer's record of it")
            assert restarted.failures == 0
        finally:
            restarted.stop()
    finally:
        watcher.close()
    seen = watcher.messages()
    assert [(a.version, a.sha256, a.url) for a in seen] == [(ann.version, ann.sha256, ann.url)] * 2
    assert all(wire.verify_message(a, public) for a in seen)
    edge = _edge_holding(ctx, tmp_path, 1)
    assert edge.version() == "1"
    for payload in watcher.payloads:
        edge.on_message(wire.GALLERY_TOPIC, payload)
        assert edge.state.wanted is not None and edge.state.refused == 0
        # The sync thread's decision: no update is pending for a version already installed.
        assert edge._pending() is None
    with ctx.sessions() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(GalleryVersion)).scalar() == 1


def test_newest_version_wins_and_older_pending_ones_are_superseded(
    ctx: Context, make_broker: Callable[..., Broker]
) -> None:
    """Two versions stored while the broker was down: one publish, of the newest; an edge
    never sees the older one. With nothing stored, nothing is published."""
    broker = make_broker()
    m = MqttSettings(host=broker.host, port=broker.port, mqtt_version="3.1.1")
    assert announce_latest(ctx.sessions, m, BASE) is None
    watcher = Watcher(broker)
    try:
        with ctx.sessions.begin() as s:
            gallery.upload(s, ADMIN, ctx.evidence, synthetic({"p-1": 1}).to_bytes())
        with ctx.sessions.begin() as s:
            gallery.upload(s, ADMIN, ctx.evidence, synthetic({"p-1": 1, "p-2": 1}).to_bytes())
        assert _pending(ctx) == 2
        assert announce_latest(ctx.sessions, m, BASE) == 2  # over MQTT 3.1.1
        wait_until(lambda: len(watcher.payloads) == 1, 10, "the announcement")
        assert [a.version for a in watcher.messages()] == ["2"]
        assert _pending(ctx) is None
    finally:
        watcher.close()


def test_a_refused_publish_stays_pending(ctx: Context, make_broker: Callable[..., Broker]) -> None:
    """A login the broker refuses is no PUBACK: the error says so and the mark stays."""
    broker = make_broker(passwords={"central": "right-password"})
    with ctx.sessions.begin() as s:
        gallery.upload(s, ADMIN, ctx.evidence, synthetic({"p-1": 1}).to_bytes())
    m = MqttSettings(host=broker.host, port=broker.port, username="central", password="wrong")
    with pytest.raises(OSError, match="refused"):
        announce_latest(ctx.sessions, m, BASE, timeout=3)
    assert _pending(ctx) == 1


@pytest.mark.timeout(180)
def test_central_serve_announces_by_itself(
    tmp_path: Path,
    make_broker: Callable[..., Broker],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real ``jaywatch central serve`` process (API + ingest): an upload made while the
    broker is down reaches the retained topic once the broker is back, without any further
    command; an upload through its HTTP API is announced by the same announcer."""
    db_url = f"sqlite:///{tmp_path / 'c.db'}"
    key = tmp_path / "central.pem"
    assert main(["central", "keygen", "--out", str(key)]) == 0
    broker = make_broker()
    cfg = _config(tmp_path, db_url, broker.port, key)
    monkeypatch.setenv("JAYWATCH_PASSWORD", "correct horse battery")
    assert main(["central", "--config", str(cfg), "user", "add", "ada", "--role", "admin"]) == 0
    capsys.readouterr()
    ctx = make_context(db_url, tmp_path)
    with ctx.sessions.begin() as s:
        for pid in ("p-1", "p-2"):
            persons.enrol(s, ADMIN, ctx.rules, "+447400123456", "order", None, pid)
    port = free_port()
    argv = [sys.executable, "-m", "jaywatch_app.cli", "central", "--config", str(cfg), "serve"]
    serve = subprocess.Popen(
        [*argv, "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "serve.log").open("wb"),
        start_new_session=True,
    )

    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        wait_until(_answers(http), 60, "central serve up")  # its start-up announce is done
        broker.stop()
        gal = tmp_path / "gallery.npz"
        gal.write_bytes(synthetic({"p-1": 1}).to_bytes())
        assert main(["central", "--config", str(cfg), "gallery", "upload", str(gal)]) == 1
        assert _pending(ctx) == 1
        broker.start()
        wait_until(lambda: _pending(ctx) is None, 90, "central serve to announce version 1")
        assert _retained(broker).version == "1"

        r = http.post(
            "/api/auth/login", json={"username": "ada", "password": "correct horse battery"}
        )
        assert r.status_code == 200, r.text
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        body = synthetic({"p-1": 1, "p-2": 1}).to_bytes()
        r = http.post("/api/gallery", content=body, headers=auth)
        assert r.status_code == 201 and r.json()["version"] == 2, r.text
        wait_until(lambda: _pending(ctx) is None, 60, "central serve to announce version 2")
        assert _retained(broker).version == "2"
        assert serve.poll() is None, (tmp_path / "serve.log").read_text()
    finally:
        http.close()
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(10)
        ctx.close()


def _answers(http: httpx.Client) -> Callable[[], bool]:
    def up() -> bool:
        try:
            return http.get("/api/health").status_code in (200, 503)
        except httpx.TransportError:
            return False

    return up


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mqtt_version", ["5", "3.1.1"])
def test_a_broker_that_lost_the_retained_announcement_gets_it_back(
    ctx: Context,
    make_broker: Callable[..., Broker],
    mqtt_version: MqttVersion,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """mosquitto without persistence, restarted on the same port, forgets the retained
    announcement: the running announcer's periodic check publishes it again (no central
    restart, no CLI call). While the broker retains the right message, checks publish
    nothing; a retained message that is not central's signed one is replaced."""
    caplog.set_level("WARNING", logger="central.gallery_announcer")
    key = wire.generate_device_key()
    public = wire.public_key_bytes(key)
    broker = make_broker(extra="persistence false")
    with ctx.sessions.begin() as s:
        gallery.upload(s, ADMIN, ctx.evidence, synthetic({"p-1": 1}).to_bytes())
    m = MqttSettings(
        host=broker.host, port=broker.port, client_id="central-serve", mqtt_version=mqtt_version
    )
    announcer = GalleryAnnouncer(
        ctx.sessions,
        m,
        BASE,
        key,
        poll_s=0.1,
        retry_min_s=0.1,
        retry_max_s=0.5,
        retained_check_s=0.3,
    ).start()
    try:
        wait_until(lambda: _pending(ctx) is None, 30, "the start-up announcement")
        watcher = Watcher(broker)
        try:
            wait_until(lambda: len(watcher.payloads) == 1, 10, "the retained announcement")
            checks = announcer.checks
            wait_until(lambda: announcer.checks >= checks + 3, 30, "three retained checks")
            # The broker held the right message: no check published anything.
            assert announcer.republished == 0 and announcer.failures == 0
            assert watcher.retain_flags == [True]
        finally:
            watcher.close()
        first = read_retained(m)
        assert first is not None

        broker.stop()
        broker.start()  # same port, persistence off: the retained message is gone
        wait_until(lambda: announcer.republished == 1, 30, "the lost announcement republished")
        assert "broker lost its announcement" in caplog.text
        ann = _retained(broker)  # a gateway connecting now gets it, signed by central
        assert ann.version == "1" and wire.verify_message(ann, public)
        assert first is not None and ann.sha256 == wire.parse_message(first).sha256

        # Someone (e.g. a central with no or another key) left an unsigned announcement of
        # the same version retained: edges that require the signature would ignore it.
        publish_retained(
            m.model_copy(update={"client_id": "intruder"}),
            ann.model_copy(update={"signature": None}),
        )
        wait_until(lambda: announcer.republished == 2, 30, "the unsigned one replaced")
        assert wire.verify_message(_retained(broker), public)
        assert "retains another payload than its announcement" in caplog.text
    finally:
        announcer.stop()


def test_retained_read_names_a_refused_login(make_broker: Callable[..., Broker]) -> None:
    broker = make_broker(passwords={"central": "right-password"})
    m = MqttSettings(host=broker.host, port=broker.port, username="central", password="wrong")
    with pytest.raises(ConnectionRefusedError, match=f"{broker.port}: connection refused"):
        read_retained(m, timeout=5)
