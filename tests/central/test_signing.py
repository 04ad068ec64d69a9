"""Central signs what it sends to edges (acks, gallery announcements) with the key in
``signing_key_file``; the CLI creates that key and tells gateways its public half."""

from __future__ import annotations

import base64
import stat
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from paho.mqtt.enums import CallbackAPIVersion

from central.config import CentralConfig, IngestSettings, MqttSettings, load_signing_key
from central.gallery_announcer import announcement, publish_retained
from central.ingest.consumer import IngestWorker
from central.store.models import GalleryVersion
from jaywatch import wire
from tests.central.helpers import REPO, add_device, make_context, violation
from tests.integration.helpers import wait_until
from tests.services import Broker


def central_cli(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jaywatch_app.cli", "central", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def keygen(tmp_path: Path, name: str = "central.pem") -> tuple[Path, bytes]:
    out = tmp_path / name
    r = central_cli(tmp_path / "unused.yaml", "keygen", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out, base64.b64decode(r.stdout.strip(), validate=True)


class Listener:
    """A device-side subscriber collecting raw payloads on one topic."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.got: list[bytes] = []
        self.arrived = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.c.on_message = self._on_message
        self.c.connect(broker.host, broker.port)
        self.c.subscribe(topic, qos=1)
        self.c.loop_start()

    def _on_message(self, _c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        self.got.append(bytes(m.payload))
        self.arrived.set()

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def test_keygen_writes_a_private_key_file_and_prints_its_public_key(tmp_path: Path) -> None:
    path, pub = keygen(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = load_signing_key(CentralConfig(signing_key_file=str(path)))
    assert key is not None and wire.public_key_bytes(key) == pub
    again = central_cli(tmp_path / "unused.yaml", "keygen", "--out", str(path))
    assert again.returncode == 2 and "exists" in again.stderr
    kept = load_signing_key(CentralConfig(signing_key_file=str(path)))
    assert kept is not None and wire.public_key_bytes(kept) == pub  # not overwritten
    forced = central_cli(tmp_path / "unused.yaml", "keygen", "--out", str(path), "--force")
    assert forced.returncode == 0 and stat.S_IMODE(path.stat().st_mode) == 0o600
    new = load_signing_key(CentralConfig(signing_key_file=str(path)))
    assert new is not None and wire.public_key_bytes(new) != pub
    assert base64.b64decode(forced.stdout.strip()) == wire.public_key_bytes(new)


def test_device_add_prints_centrals_public_key_for_the_gateway(tmp_path: Path) -> None:
    path, pub = keygen(tmp_path)
    cfg = tmp_path / "central.yaml"
    cfg.write_text(
        f"database_url: sqlite:///{tmp_path / 'c.db'}\nevidence_dir: {tmp_path / 'ev'}\n"
        f"fines_file: {REPO / 'config' / 'fines.yaml'}\nsigning_key_file: {path}\n"
    )
    dev_key = wire.public_key_bytes(wire.generate_device_key()).hex()
    r = central_cli(cfg, "device", "add", "gw-7", "--public-key", dev_key)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("central_public_key: "))
    assert base64.b64decode(line.split(": ", 1)[1]) == pub


def test_no_signing_key_configured_means_none() -> None:
    assert load_signing_key(CentralConfig()) is None


def test_unusable_signing_key_files_are_named_in_the_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(
        ValueError, match=r"signing_key_file: .*nope\.pem: key file not found.*central keygen"
    ):
        load_signing_key(CentralConfig(signing_key_file=str(missing)))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key\n")
    garbage.chmod(0o600)
    with pytest.raises(ValueError, match=r"signing_key_file: .*garbage\.pem: not an unencrypted"):
        load_signing_key(CentralConfig(signing_key_file=str(garbage)))
    ec_pem = tmp_path / "ec.pem"
    ec_pem.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ec_pem.chmod(0o600)
    with pytest.raises(ValueError, match=r"signing_key_file: .*ec\.pem: expected an Ed25519"):
        load_signing_key(CentralConfig(signing_key_file=str(ec_pem)))
    # Readable by others: refused like a device key (anyone could forge central's acks).
    ec_pem.chmod(0o644)
    with pytest.raises(ValueError, match=r"signing_key_file: .*0644 are too open.*chmod 600"):
        load_signing_key(CentralConfig(signing_key_file=str(ec_pem)))


def test_relative_signing_key_path_is_read_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, pub = keygen(tmp_path)
    monkeypatch.chdir(tmp_path)
    key = load_signing_key(CentralConfig(signing_key_file=path.name))
    assert key is not None and wire.public_key_bytes(key) == pub


@pytest.mark.broker
def test_ingest_acks_are_signed_with_the_configured_key(broker: Broker, tmp_path: Path) -> None:
    path, pub = keygen(tmp_path)
    central_key = load_signing_key(CentralConfig(signing_key_file=str(path)))
    ctx = make_context(f"sqlite:///{tmp_path / 'c.db'}", tmp_path)
    dev_key = add_device(ctx, "gw-1")
    listener = Listener(broker, wire.ack_topic("gw-1"))
    w = IngestWorker(
        MqttSettings(host=broker.host, port=broker.port, client_id="central-sign"),
        IngestSettings(batch_max=10),
        ctx.sessions,
        ctx.evidence,
        signing_key=central_key,
    ).start()
    try:
        good = violation(dev_key)
        forged = violation(wire.generate_device_key())  # rejected, and still acked signed
        pub_c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub_c.connect(broker.host, broker.port)
        pub_c.loop_start()
        for ev in (good, forged):
            pub_c.publish(
                wire.violation_topic("gw-1"), ev.model_dump_json(), qos=1
            ).wait_for_publish(10)
        pub_c.disconnect()
        pub_c.loop_stop()
        wait_until(lambda: len(listener.got) >= 2, 30, "central's acks for both events")
        acks = [wire.parse_message(p) for p in listener.got]
        assert {a.event_id: a.status for a in acks} == {  # type: ignore[attr-defined]
            good.event_id: "stored",
            forged.event_id: "rejected",
        }
        for a in acks:
            assert wire.verify_message(a, pub)
            assert not wire.verify_message(a, wire.public_key_bytes(wire.generate_device_key()))
    finally:
        listener.close()
        w.stop()
        ctx.close()


@pytest.mark.broker
def test_gallery_announcement_is_signed_with_the_configured_key(
    broker: Broker, tmp_path: Path
) -> None:
    path, pub = keygen(tmp_path)
    central_key = load_signing_key(CentralConfig(signing_key_file=str(path)))
    gv = GalleryVersion(
        version=3,
        reason="upload",
        person_ids_sha256="a" * 64,
        snapshot_sha256="b" * 64,
        download_token="tok",
    )
    publish_retained(
        MqttSettings(host=broker.host, port=broker.port),
        announcement(gv, "https://c"),
        signing_key=central_key,
    )
    listener = Listener(broker, wire.GALLERY_TOPIC)  # after the publish: the retained copy
    try:
        assert listener.arrived.wait(10)
    finally:
        listener.close()
    ann = wire.parse_message(listener.got[0])
    assert isinstance(ann, wire.GalleryAnnouncement) and ann.version == "3"
    assert wire.verify_message(ann, pub)
    tampered = ann.model_copy(update={"url": "https://evil/api/gallery/3/tok"})
    assert not wire.verify_message(tampered, pub)
