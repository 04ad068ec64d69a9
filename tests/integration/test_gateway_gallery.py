"""The running gateway takes central's gallery: announced (retained, signed) on a TLS
mosquitto with the shipped ACL, fetched over HTTPS, swapped into the face stage; the
face scene's violator is then stored at central as matched, the version shows in the
heartbeat central stores, and after an erasure the same violator stays unidentified.

sample_media/faces/scene: violator A walks in as obama3.jpg (never enrolled; obama.jpg
and obama2.jpg are), violator B as biden.jpg (never enrolled).
"""

from __future__ import annotations

import hashlib
import json
import signal
from pathlib import Path

import pytest

from central.workflow.persons import enrol
from edge.config import CameraConfig
from edge.gateway import Gateway
from edge.gateway_config import load_gateway_config
from edge.pipeline import make_face_stage
from jaywatch import wire
from tests.central.helpers import SUPERVISOR
from tests.integration.helpers import (
    REPO,
    Central,
    CentralPublisher,
    StatusWatcher,
    camera_yaml,
    gallery_bytes,
    gateway_yaml,
    secure_broker,
    start_edge,
    wait_until,
)
from tests.integration.snapshot_server import SnapshotServer

pytestmark = [pytest.mark.broker, pytest.mark.slow]

FACE_SCENE = REPO / "sample_media" / "faces" / "scene"


def _run_scene(gw: Gateway, version: str) -> None:
    """Start the link and the sync first, so the announced gallery is in place before
    the first frame (a gateway in the field simply matches from the swap on)."""
    assert gw.gallery_sync is not None
    gw.gallery_sync.start()
    gw.link.start()
    wait_until(lambda: gw.gallery_sync.version() == version, 60, f"gallery {version}")
    gw.health.start()
    for w in gw.workers:
        w.start()
    wait_until(gw.files_done, 150, "face scene processed")
    wait_until(lambda: gw.outbox.depth() == 0, 60, "outbox drained")


def _violator_a(central: Central, camera_id: str) -> dict:
    evs = [e.payload for e in central.events() if e.camera_id == camera_id]
    assert evs, f"no event stored for {camera_id}"
    gt = json.loads((FACE_SCENE / "ground_truth.json").read_text())
    a_frame = next(v["frame"] for v in gt["expected_violations"] if v["id"] == "A")
    return min(evs, key=lambda p: abs(p["frame"] - a_frame))


@pytest.mark.timeout(300)
def test_gateway_follows_gallery_updates_and_erasure_takes_effect(
    make_broker, tmp_path: Path
) -> None:
    broker = secure_broker(make_broker, tls=True)
    server = SnapshotServer(tmp_path / "https", tls=True).start()
    central_key = wire.generate_device_key()
    publisher = CentralPublisher(broker, central_key)
    key = wire.generate_device_key()
    central = Central.create(f"sqlite:///{tmp_path}/c.db", tmp_path / "central", broker)
    central.register("gw-a", key, ["face-scene", "face-scene-2"])
    with central.ctx.sessions.begin() as s:  # enrolled at central too: matched events
        for i, pid in enumerate(("p-obama", "p-astronaut")):
            enrol(s, SUPERVISOR, central.ctx.rules, f"+44791112345{i}", "test", None, pid)
    central.start()
    g1 = gallery_bytes(
        {"p-obama": ["obama", "obama2"], "p-astronaut": ["astronaut"]}, 1, tmp_path / "g1"
    )
    g2 = gallery_bytes({"p-astronaut": ["astronaut"]}, 2, tmp_path / "g2")  # Obama erased
    server.files.update({"/g/1": g1, "/g/2": g2})

    def gateway(camera_id: str) -> Gateway:
        cam = camera_yaml(FACE_SCENE, tmp_path / f"{camera_id}.yaml", id=camera_id)
        cfg_path = gateway_yaml(
            tmp_path / "gw",
            "gw-a",
            broker,
            [cam],
            key,
            gallery={"path": "gallery.npz", "ca_file": str(server.cafile), "retry_min_s": 0.5},
            # No central_public_key: it would make the gateway demand signed acks too, and
            # central's IngestWorker does not sign its acks (yet). The ACL alone lets only
            # central write the gallery topic.
        )
        cfg = load_gateway_config(cfg_path)
        assert cfg.gallery is not None
        synced = cfg.gallery.path

        def faces_for(c: CameraConfig):  # as `jaywatch edge run` does with a synced file
            return make_face_stage(c, synced if synced.is_file() else None)

        return Gateway(cfg, faces_for)

    try:
        # Version 1 holds Obama: the violator is stored as matched.
        publisher.announce(1, server.url("/g/1"), hashlib.sha256(g1).hexdigest())
        gw = gateway("face-scene")
        try:
            _run_scene(gw, "1")
            wait_until(
                lambda: (central.device_status("gw-a") or {}).get("gallery_version") == "1",
                20,
                "gallery version in the heartbeat at central",
            )
        finally:
            gw.stop()
        a = _violator_a(central, "face-scene")
        assert a["match"] is not None and a["match"]["person_id"] == "p-obama"
        assert a["match"]["gallery_version"] == "1"
        # The scene's camera.yaml asks for the matcher's runner-ups (faces.alternatives:
        # 3, issue 17): the gallery's other person, signed in the message, stored for
        # the reviewer with its score below the match's.
        ev = next(e for e in central.events() if e.event_id == a["event_id"])
        signed = json.loads(central.ctx.evidence.get(ev.message_sha256))
        assert [x["person_id"] for x in signed["match"]["alternatives"]] == ["p-astronaut"]
        assert ev.status == "pending_review" and ev.match_alternatives is not None
        assert [x["person_id"] for x in ev.match_alternatives] == ["p-astronaut"]
        assert ev.match_alternatives[0]["score"] < ev.match_score

        # Obama is erased at central: version 2. The gateway (restarted with gallery 1
        # on disk) takes the update; the same violator is now unidentified.
        publisher.announce(2, server.url("/g/2"), hashlib.sha256(g2).hexdigest())
        gw = gateway("face-scene-2")
        try:
            _run_scene(gw, "2")
        finally:
            gw.stop()
        a2 = _violator_a(central, "face-scene-2")
        assert a2["match"] is None or a2["match"]["person_id"] != "p-obama"
        assert (tmp_path / "gw" / "gallery.npz").read_bytes() == g2
    finally:
        publisher.close()
        server.stop()
        central.close()


@pytest.mark.timeout(120)
def test_edge_run_survives_a_damaged_synced_gallery_and_replaces_it(
    make_broker, tmp_path: Path
) -> None:
    """`jaywatch edge run` (child process) finds its synced gallery damaged (say, by a
    power cut on a filesystem without atomic rename): it starts without one, takes the
    retained announcement, reports the version, and stops cleanly on SIGTERM."""
    broker = secure_broker(make_broker, tls=True)
    server = SnapshotServer(tmp_path / "https", tls=True).start()
    publisher = CentralPublisher(broker, wire.generate_device_key())
    g1 = gallery_bytes({"p-obama": ["obama", "obama2"]}, 1, tmp_path / "g1")
    server.files["/g/1"] = g1
    cam = camera_yaml(FACE_SCENE, tmp_path / "cam.yaml")
    cfg = gateway_yaml(
        tmp_path / "gw",
        "gw-a",
        broker,
        [cam],
        wire.generate_device_key(),
        gallery={"path": "gallery.npz", "ca_file": str(server.cafile), "retry_min_s": 0.5},
    )
    (tmp_path / "gw" / "gallery.npz").write_bytes(b"PK\x03\x04 not a gallery any more")
    publisher.announce(1, server.url("/g/1"), hashlib.sha256(g1).hexdigest())
    watcher = StatusWatcher(broker, "gw-a")
    log = tmp_path / "edge.log"
    proc = start_edge(cfg, log, "--drain-s", "0")
    try:

        def reported(version: str) -> bool:
            st = watcher.latest()
            return st is not None and st.online and st.gallery_version == version

        wait_until(lambda: reported("1") or proc.poll() is not None, 90, "gallery 1 reported")
        assert proc.poll() is None, log.read_text()[-3000:]
        assert (tmp_path / "gw" / "gallery.npz").read_bytes() == g1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()[-3000:]
        wait_until(lambda: watcher.latest().online is False, 10, "offline status")
        assert "starting without a gallery" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        watcher.close()
        publisher.close()
        server.stop()
