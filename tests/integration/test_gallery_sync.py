"""Gallery updates end to end: a retained announcement on a real mosquitto (passwords + the
shipped ACL), real gallery files built from real photos, served over HTTPS by a local
server, swapped into a real face stage; an erasure stops a match; a bad hash or a failed
fetch keeps the old gallery and is retried.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from edge.faces.config import FacesConfig
from edge.faces.stage import ViolatorFaces
from edge.gallery.store import Gallery
from edge.gallery_sync import GallerySync
from edge.gateway_config import BrokerConfig, GalleryConfig
from edge.health import HealthReporter
from edge.outbox import Outbox
from edge.transport.mqtt import MqttLink
from jaywatch import wire
from tests.edge.faces.helpers import walking_frames
from tests.integration.helpers import (
    PASSWORDS,
    CentralPublisher,
    gallery_bytes,
    secure_broker,
    wait_until,
)
from tests.integration.snapshot_server import SnapshotServer

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture(scope="module")
def galleries(tmp_path_factory: pytest.TempPathFactory) -> dict[int, bytes]:
    """Version 1 enrols Obama (obama.jpg, obama2.jpg) and Biden; version 2 is the same
    gallery after Obama's erasure (Biden and the astronaut). Real files, real embeddings."""
    d = tmp_path_factory.mktemp("galleries")
    return {
        1: gallery_bytes({"p-obama": ["obama", "obama2"], "p-biden": ["biden"]}, 1, d / "1"),
        2: gallery_bytes({"p-biden": ["biden"], "p-astronaut": ["astronaut"]}, 2, d / "2"),
    }


def _decide_obama3(stage: ViolatorFaces, track: int):
    """A flagged violator walking past: obama3.jpg, a photo that is never enrolled."""
    for frame, box, t in walking_frames("obama3"):
        stage.observe(track, frame, box, t)
    return stage.decide(track)


@pytest.mark.timeout(120)
def test_announced_gallery_is_fetched_verified_swapped_and_erasure_takes_effect(
    make_broker, tmp_path: Path, galleries: dict[int, bytes]
) -> None:
    broker = secure_broker(make_broker, tls=False)
    server = SnapshotServer(tmp_path / "https", tls=True).start()
    central_key = wire.generate_device_key()
    publisher = CentralPublisher(broker, central_key)
    sha = {v: hashlib.sha256(b).hexdigest() for v, b in galleries.items()}

    stage = ViolatorFaces(FacesConfig(), None)  # a fresh gateway: no gallery yet
    cfg = GalleryConfig(
        path=tmp_path / "edge" / "gallery.npz",
        ca_file=server.cafile,
        timeout_s=5,
        retry_min_s=0.2,
        retry_max_s=0.5,
    )
    cfg.path.parent.mkdir()
    pw = tmp_path / "pw"
    pw.write_text(PASSWORDS["gw-a"])
    outbox = Outbox(tmp_path / "edge" / "outbox.sqlite")
    link = MqttLink(
        "gw-a",
        BrokerConfig(
            host=broker.host, port=broker.port, tls=False, password_file=pw, reconnect_max_s=2
        ),
        outbox,
    )
    installed: list[str] = []
    sync = GallerySync(
        cfg,
        [stage],
        central_public_key=wire.public_key_bytes(central_key),
        on_installed=installed.append,
    )
    statuses: list[wire.DeviceStatus] = []
    got_status = threading.Event()

    def publish_status(s: wire.DeviceStatus) -> None:
        statuses.append(s)
        got_status.set()

    health = HealthReporter("gw-a", outbox, publish_status, gallery_version=sync.version)
    sync.attach(link)
    sync.start()
    link.start()
    try:
        assert link.wait_connected(10)
        assert _decide_obama3(stage, 1).match is None  # nothing to match against yet

        # Version 1 (with Obama), over HTTPS checked against the configured CA.
        server.files["/g1.npz"] = galleries[1]
        publisher.announce(1, server.url("/g1.npz"), sha[1])
        wait_until(lambda: sync.version() == "1", 30, "gallery 1 installed")
        assert cfg.path.read_bytes() == galleries[1]
        d = _decide_obama3(stage, 2)
        assert d.match is not None and d.match.person_id == "p-obama", d.reason
        assert d.match.gallery_version == 1
        assert health.report_now().gallery_version == "1"

        # Obama is erased: version 2 no longer holds him; the next decision cannot name him.
        server.files["/g2.npz"] = galleries[2]
        publisher.announce(2, server.url("/g2.npz"), sha[2])
        wait_until(lambda: sync.version() == "2", 30, "gallery 2 installed")
        d = _decide_obama3(stage, 3)
        assert d.match is None or d.match.person_id != "p-obama"
        assert "p-obama" not in Gallery.load(cfg.path).persons

        # A forged (unsigned) announcement is ignored: nothing fetched.
        n_req, wanted = len(server.requests), sync.state.wanted
        publisher.announce(9, server.url("/g1.npz"), sha[1], sign=False)
        wait_until(lambda: sync.state.refused == 1, 10, "the forged announcement")
        publisher.announce(2, server.url("/g2.npz"), sha[2])  # restore the retained one
        wait_until(lambda: sync.state.wanted is not wanted, 10, "the restored announcement")
        assert sync.version() == "2" and len(server.requests) == n_req

        # Version 3 announced while the server hands out damaged bytes: the hash check
        # refuses them, version 2 stays installed and in health, and the sync retries.
        v3 = Gallery.load(cfg.path)
        v3 = Gallery(v3.persons, v3.backends, gallery_version=3)
        v3.save(tmp_path / "g3.npz")
        g3 = (tmp_path / "g3.npz").read_bytes()
        server.files["/g3.npz"] = g3[: len(g3) // 2] + bytes(len(g3) - len(g3) // 2)
        publisher.announce(3, server.url("/g3.npz"), hashlib.sha256(g3).hexdigest())
        wait_until(lambda: sync.state.failures >= 2, 30, "two failed attempts")
        assert "sha256" in sync.state.last_error
        assert sync.version() == "2" and cfg.path.read_bytes() == galleries[2]
        assert health.report_now().gallery_version == "2"
        # ... then a missing file (HTTP 404) is an error too, retried ...
        del server.files["/g3.npz"]
        failures = sync.state.failures
        wait_until(lambda: sync.state.failures > failures, 30, "a failed fetch")
        assert "404" in sync.state.last_error
        # ... and once the right bytes are served, the retry installs version 3.
        server.files["/g3.npz"] = g3
        wait_until(lambda: sync.version() == "3", 30, "gallery 3 installed")
        assert cfg.path.read_bytes() == g3
        assert sync.state.last_error == ""
        assert installed == ["1", "2", "3"]
        assert not list(cfg.path.parent.glob("*.part"))  # no temp files left behind
    finally:
        link.stop()
        sync.stop()
        outbox.close()
        publisher.close()
        server.stop()


@pytest.mark.timeout(60)
def test_a_gallery_the_face_stage_refuses_leaves_the_old_one_everywhere(
    make_broker, tmp_path: Path, galleries: dict[int, bytes]
) -> None:
    """All stages or none: a snapshot built for another model is refused by the stage,
    the one that had already taken it is rolled back, the file on disk is unchanged."""
    server = SnapshotServer(tmp_path / "http").start()
    cfg = GalleryConfig(path=tmp_path / "gallery.npz", retry_min_s=0.2, retry_max_s=0.5)
    cfg.path.write_bytes(galleries[1])

    class Recording:
        def __init__(self) -> None:
            self.got: list[Gallery | None] = []

        def set_gallery(self, g: Gallery | None) -> None:
            self.got.append(g)

    first = Recording()
    stage = ViolatorFaces(FacesConfig(), Gallery.load(cfg.path))
    sync = GallerySync(cfg, [first, stage])
    assert sync.version() == "1"  # read from the installed file at start
    g = Gallery.load(cfg.path)
    block = g.backends["sface"]
    other_model = type(block)("0" * 64, block.embeddings, block.labels, block.photos)
    Gallery(g.persons, {"sface": other_model}, gallery_version=2).save(tmp_path / "bad.npz")
    bad = (tmp_path / "bad.npz").read_bytes()
    server.files["/bad.npz"] = bad
    ann = wire.GalleryAnnouncement(
        device_id="central",
        version="2",
        sha256=hashlib.sha256(bad).hexdigest(),
        url=server.url("/bad.npz"),
    )
    try:
        with pytest.raises(RuntimeError, match="refused"):
            sync.install(ann)
        assert [x.gallery_version if x else None for x in first.got] == [2, 1]  # rolled back
        assert sync.version() == "1" and cfg.path.read_bytes() == galleries[1]
        d = _decide_obama3(stage, 1)
        assert d.match is not None and d.match.person_id == "p-obama"
    finally:
        server.stop()


def test_gallery_config_is_resolved_and_checked_at_start(tmp_path: Path) -> None:
    """Relative gallery paths resolve against the config file; a missing directory or
    CA file is one clear error naming the key."""
    from edge.config import ConfigError
    from edge.gateway_config import load_gateway_config

    (tmp_path / "device.key").write_text("x")
    cfg = tmp_path / "edge.yaml"
    base = "device_id: gw-a\nkey_file: device.key\ncameras: [cam.yaml]\noutbox: {path: o.db}\n"
    cfg.write_text(base + "gallery: {path: g/gallery.npz}\n")
    loaded = load_gateway_config(cfg, check_files=False)
    assert loaded.gallery is not None and loaded.gallery.path == tmp_path / "g" / "gallery.npz"
    with pytest.raises(ConfigError, match=r"gallery\.path: directory does not exist"):
        load_gateway_config(cfg)
    (tmp_path / "g").mkdir()
    cfg.write_text(base + "gallery: {path: g/gallery.npz, ca_file: nope.crt}\n")
    with pytest.raises(ConfigError, match=r"gallery\.ca_file: file not found"):
        load_gateway_config(cfg)
    cfg.write_text(base + "gallery: {path: g/gallery.npz, retry_min_s: -1}\n")
    with pytest.raises(ConfigError, match=r"gallery\.retry_min_s"):
        load_gateway_config(cfg)
