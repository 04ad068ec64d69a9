"""``jaywatch central …`` end to end in a subprocess, and the retained gallery announcement."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.config import MqttSettings
from central.gallery_announcer import announcement, publish_retained
from central.store.models import GalleryVersion
from jaywatch import wire
from tests.central.helpers import REPO
from tests.services import Broker


def run(cfg: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jaywatch_app.cli", "central", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_cli_migrate_user_device_purge_audit(tmp_path: Path) -> None:
    cfg = tmp_path / "central.yaml"
    cfg.write_text(
        f"database_url: sqlite:///{tmp_path / 'c.db'}\nevidence_dir: {tmp_path / 'ev'}\n"
        f"fines_file: {REPO / 'config' / 'fines.yaml'}\n"
    )
    assert run(cfg, "migrate").returncode == 0
    ok = run(cfg, "user", "add", "olive", "--role", "operator", env={"JAYWATCH_PASSWORD": "x" * 12})
    assert ok.returncode == 0, ok.stderr
    short = run(cfg, "user", "add", "bob", "--role", "operator", env={"JAYWATCH_PASSWORD": "short"})
    assert short.returncode == 2 and "password" in short.stderr
    key = wire.public_key_bytes(wire.generate_device_key()).hex()
    dev = run(cfg, "device", "add", "gw-7", "--public-key", key, "--camera", "cam-1=Elm Rd")
    assert dev.returncode == 0, dev.stderr
    assert (
        "mqtt password: " in dev.stdout
        and "addRoleACL jw-device-gw-7 publishClientSend jaywatch/v1/gw-7/violation" in dev.stdout
    )
    assert run(cfg, "device", "add", "gw-8", "--public-key", "abc").returncode == 2
    purge = run(cfg, "purge")
    assert purge.returncode == 0 and "dead_letters: 0" in purge.stdout
    audit = run(cfg, "audit", "verify")
    assert audit.returncode == 0 and "3 entries" in audit.stdout and "OK" in audit.stdout


def test_cli_counts_rebuild_repairs_totals_kept_wrong(db_url: str, tmp_path: Path) -> None:
    """Triggers off during a restore leave the kept totals wrong; the command recomputes
    them from the rows (SQLite and PostgreSQL)."""
    import sqlalchemy as sa

    from central.store.db import make_engine

    cfg = tmp_path / "central.yaml"
    cfg.write_text(
        f"database_url: {db_url}\nevidence_dir: {tmp_path / 'ev'}\n"
        f"fines_file: {REPO / 'config' / 'fines.yaml'}\n"
    )
    assert run(cfg, "migrate").returncode == 0
    engine = make_engine(db_url)
    try:
        with engine.begin() as c:  # what a restore with triggers disabled leaves
            c.execute(sa.text("INSERT INTO dead_letter_bytes (n) VALUES (12345)"))
            c.execute(
                sa.text("INSERT INTO event_status_counts (status, n) VALUES ('pending_review', 7)")
            )
        out = run(cfg, "counts", "rebuild")
        assert out.returncode == 0, out.stderr
        assert "dead letter bytes: 12345 -> 0" in out.stdout
        assert "events pending_review: 7 -> 0" in out.stdout
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT SUM(n) FROM dead_letter_bytes")).scalar() == 0
            assert not c.execute(sa.text("SELECT SUM(n) FROM event_status_counts")).scalar()
    finally:
        engine.dispose()


@pytest.mark.broker
def test_gallery_version_is_announced_retained(broker: Broker) -> None:
    gv = GalleryVersion(
        version=5,
        reason="upload",
        person_ids_sha256="a" * 64,
        snapshot_sha256="b" * 64,
        download_token="tok",
    )
    publish_retained(
        MqttSettings(host=broker.host, port=broker.port), announcement(gv, "https://c")
    )
    got: list[wire.GalleryAnnouncement] = []
    done = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="late-edge", protocol=mqtt.MQTTv5)

    def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        msg = wire.parse_message(m.payload)
        assert isinstance(msg, wire.GalleryAnnouncement) and m.retain
        got.append(msg)
        done.set()

    c.on_message = on_message
    c.connect(broker.host, broker.port)
    c.subscribe(wire.GALLERY_TOPIC, qos=1)  # subscribes AFTER the publish: retained
    c.loop_start()
    try:
        assert done.wait(10)
    finally:
        c.disconnect()
        c.loop_stop()
    assert got[0].version == "5" and got[0].url == "https://c/api/gallery/5/tok"
    assert got[0].sha256 == "b" * 64
