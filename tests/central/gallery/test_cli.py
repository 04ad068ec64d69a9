"""``jaywatch central gallery upload|list|announce`` against a real mosquitto and a real
database: the upload is stored, audited as the CLI user, and announced retained (signed)."""

from __future__ import annotations

import base64
import getpass
import threading
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from central.store.models import AuditEntry, GalleryVersion
from central.workflow import persons
from jaywatch import wire
from jaywatch.gallery_file import Gallery
from jaywatch_app.cli import main
from tests.central.gallery.test_snapshots import synthetic
from tests.central.helpers import ADMIN, REPO, make_context
from tests.services import Broker, free_port

BASE = "https://central.example"


def _config(tmp_path: Path, db_url: str, port: int, key: Path) -> Path:
    cfg = tmp_path / "central.yaml"
    cfg.write_text(
        f"database_url: {db_url}\nevidence_dir: {tmp_path / 'evidence'}\n"
        f"fines_file: {REPO / 'config' / 'fines.yaml'}\nsigning_key_file: {key}\n"
        f"mqtt:\n  host: 127.0.0.1\n  port: {port}\napi:\n  base_url: {BASE}\n"
    )
    return cfg


def _retained(broker: Broker) -> wire.GalleryAnnouncement:
    """The retained announcement, as a gateway connecting now would see it."""
    got: list[wire.GalleryAnnouncement] = []
    done = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="late-edge", protocol=mqtt.MQTTv5)

    def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        msg = wire.parse_message(m.payload)
        if isinstance(msg, wire.GalleryAnnouncement) and m.retain:
            got.append(msg)
            done.set()

    c.on_message = on_message
    c.connect(broker.host, broker.port)
    c.subscribe(wire.GALLERY_TOPIC, qos=1)
    c.loop_start()
    try:
        assert done.wait(10), "no retained gallery announcement"
    finally:
        c.disconnect()
        c.loop_stop()
    return got[0]


@pytest.mark.broker
def test_upload_announces_signed_and_lists(
    db_url: str,
    tmp_path: Path,
    make_broker: Callable[..., Broker],
    capsys: pytest.CaptureFixture[str],
) -> None:
    broker = make_broker()
    key = tmp_path / "central.pem"
    assert main(["central", "keygen", "--out", str(key)]) == 0
    public = base64.b64decode(capsys.readouterr().out.strip())
    ctx = make_context(db_url, tmp_path)
    with ctx.sessions.begin() as s:
        for pid in ("p-1", "p-2"):
            persons.enrol(s, ADMIN, ctx.rules, "+447400123456", "order", None, pid)
    cfg = _config(tmp_path, db_url, broker.port, key)
    gal = tmp_path / "gallery.npz"
    gal.write_bytes(synthetic({"p-1": 2, "p-2": 1}).to_bytes())

    assert main(["central", "--config", str(cfg), "gallery", "upload", str(gal)]) == 0
    capsys.readouterr()
    with ctx.sessions() as s:
        gv = s.execute(sa.select(GalleryVersion)).scalar_one()
        actors = set(s.execute(sa.select(AuditEntry.actor)).scalars())
    ann = _retained(broker)
    assert ann.version == str(gv.version) and ann.sha256 == gv.snapshot_sha256
    assert ann.url == f"{BASE}/api/gallery/{gv.version}/{gv.download_token}"
    assert ctx.evidence.exists(ann.sha256)
    assert wire.verify_message(ann, public)
    assert f"cli:{getpass.getuser()}" in actors

    assert main(["central", "--config", str(cfg), "gallery", "list"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 2 and rows[1].split()[0] == str(gv.version)
    stored = Gallery.from_bytes(ctx.evidence.get(gv.snapshot_sha256))
    assert rows[1].split()[4] == str(len(stored.persons))  # entries, from the header alone
    assert rows[1].split()[-2:] == ["2", ann.sha256]  # entries: two persons

    # A gallery naming an unenrolled person: refused in one line, nothing stored.
    bad = tmp_path / "bad.npz"
    bad.write_bytes(synthetic({"p-1": 1, "ghost": 1}).to_bytes())
    assert main(["central", "--config", str(cfg), "gallery", "upload", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "ghost" in err and str(bad) in err
    with ctx.sessions() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(GalleryVersion)).scalar() == 1
    ctx.close()


def test_missing_file_and_unreachable_broker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_url = f"sqlite:///{tmp_path / 'c.db'}"
    key = tmp_path / "central.pem"
    assert main(["central", "keygen", "--out", str(key)]) == 0
    cfg = _config(tmp_path, db_url, free_port(), key)  # nothing listens there
    capsys.readouterr()

    missing = tmp_path / "nope.npz"
    assert main(["central", "--config", str(cfg), "gallery", "upload", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(missing) in err

    ctx = make_context(db_url, tmp_path)
    with ctx.sessions.begin() as s:
        persons.enrol(s, ADMIN, ctx.rules, "+447400123456", "order", None, "p-1")
    gal = tmp_path / "gallery.npz"
    gal.write_bytes(synthetic({"p-1": 1}).to_bytes())
    assert main(["central", "--config", str(cfg), "gallery", "upload", str(gal)]) == 1
    out = capsys.readouterr()
    assert "\n" not in out.err.strip() and "unreachable" in out.err and "stored" in out.err
    with ctx.sessions() as s:  # stored even though the announcement failed
        assert s.execute(sa.select(GalleryVersion)).scalar_one().snapshot_sha256 is not None
    ctx.close()
