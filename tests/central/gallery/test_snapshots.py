"""Gallery snapshots at central: upload (validated against enrolled persons), versioned,
content-addressed storage, token-guarded download, erasure deriving the next snapshot
and deleting earlier files; then end to end on a real mosquitto with central's real
HTTP API under uvicorn and the edge's GallerySync + face stage on real photos.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.api.app import create_app
from central.config import ApiSettings
from central.context import Context
from central.store.models import AuditEntry, GalleryVersion
from central.workflow import persons
from central.workflow.common import SYSTEM
from central.workflow.users import create_user
from jaywatch import wire
from jaywatch.gallery_file import BackendBlock, Gallery
from tests.central.helpers import ADMIN, make_context

PASSWORD = "correct horse battery"
BASE = "https://central.example"


def synthetic(people: dict[str, int], version: int = 99, seed: int = 0) -> Gallery:
    """A valid gallery file (random unit vectors; ``people``: id → number of photos)."""
    rng = np.random.default_rng(seed)
    ids = list(people)
    labels = np.array([i for i, p in enumerate(ids) for _ in range(people[p])], np.int32)
    emb = rng.normal(size=(len(labels), 128)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    photos = np.array([f"{ids[i]}/{k}.jpg" for k, i in enumerate(labels)])
    return Gallery(ids, {"sface": BackendBlock("ab" * 32, emb, labels, photos)}, version)


@pytest.fixture
def ctx(db_url: str, tmp_path: Path) -> Iterator[Context]:
    c = make_context(db_url, tmp_path, api=ApiSettings(secure_cookies=False, base_url=BASE))
    with c.sessions.begin() as s:
        create_user(s, SYSTEM, "ada", PASSWORD, "admin")
        create_user(s, SYSTEM, "olive", PASSWORD, "operator")
        for pid in ("p-1", "p-2", "p-3"):
            persons.enrol(s, ADMIN, c.rules, "+447400123456", "order", None, pid)
    yield c
    c.close()


def _auth(client: TestClient, user: str) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _path(url: str) -> str:
    assert url.startswith(BASE + "/api/gallery/"), url
    return url[len(BASE) :]


def test_upload_download_and_erasure(ctx: Context) -> None:
    announced: list[wire.GalleryAnnouncement] = []
    client = TestClient(create_app(ctx, announce_gallery=announced.append))
    admin, operator = _auth(client, "ada"), _auth(client, "olive")
    v1 = synthetic({"p-1": 2, "p-2": 1, "p-3": 1}).to_bytes()
    octet = {"content-type": "application/octet-stream"}

    # Only admins upload; only enrolled, non-erased persons; only valid files.
    assert client.post("/api/gallery", content=v1, headers={**operator, **octet}).status_code == 403
    assert client.post("/api/gallery", content=v1, headers=octet).status_code == 401
    bad = synthetic({"p-1": 1, "ghost-a": 1, "ghost-b": 2}).to_bytes()
    r = client.post("/api/gallery", content=bad, headers={**admin, **octet})
    assert r.status_code == 422 and "ghost-a, ghost-b" in r.json()["detail"], r.text
    assert "p-1" not in r.json()["detail"].split(":")[-1].split("(")[0]
    r = client.post("/api/gallery", content=v1[:-40], headers={**admin, **octet})
    assert r.status_code == 422 and "uploaded gallery" in r.json()["detail"], r.text
    assert announced == []

    r = client.post("/api/gallery", content=v1, headers={**admin, **octet})
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and len(announced) == 1
    ann = announced[0]
    assert ann.version == "1" and ann.sha256 == r.json()["sha256"]

    # The device download: exactly the announced bytes, renumbered to the version.
    got = client.get(_path(ann.url))
    assert got.status_code == 200
    assert hashlib.sha256(got.content).hexdigest() == ann.sha256
    g1 = Gallery.from_bytes(got.content)
    assert g1.gallery_version == 1 and g1.persons == ["p-1", "p-2", "p-3"]
    assert ctx.evidence.get(ann.sha256) == got.content  # content-addressed

    # Without the token (anonymous, or a guessed one) there is nothing to fetch.
    assert client.get("/api/gallery/1").status_code in (404, 405)
    assert client.get("/api/gallery/1/" + "A" * 43).status_code == 404
    assert client.get("/api/gallery/2/" + _path(ann.url).rsplit("/", 1)[1]).status_code == 404

    # Erasure: the next version lacks p-2 and only p-2; every earlier file is gone.
    r = client.delete("/api/persons/p-2", headers=admin)
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    ann2 = announced[-1]
    assert ann2.version == "2" and ann2.sha256 == r.json()["sha256"]
    g2 = Gallery.from_bytes(client.get(_path(ann2.url)).content)
    assert g2.gallery_version == 2 and g2.persons == ["p-1", "p-3"]
    b1, b2 = g1.backends["sface"], g2.backends["sface"]
    keep = b1.labels != 1
    np.testing.assert_array_equal(b2.embeddings, b1.embeddings[keep])
    assert [g2.persons[i] for i in b2.labels] == [g1.persons[i] for i in b1.labels[keep]]
    assert client.get(_path(ann.url)).status_code == 404
    assert not ctx.evidence.exists(ann.sha256)

    # An erased person cannot come back through an old build.
    r = client.post("/api/gallery", content=v1, headers={**admin, **octet})
    assert r.status_code == 422 and "p-2" in r.json()["detail"]
    # Erasing someone no snapshot holds announces nothing new.
    with ctx.sessions.begin() as s:
        persons.enrol(s, ADMIN, ctx.rules, "+447400123457", "o", None, "p-4")
    r = client.delete("/api/persons/p-4", headers=admin)
    assert r.status_code == 200 and r.json()["version"] is None and len(announced) == 2

    with ctx.sessions() as s:
        actions = list(s.execute(sa.select(AuditEntry.action)).scalars())
        rows = s.execute(sa.select(GalleryVersion).order_by(GalleryVersion.version)).scalars()
        assert [(g.version, g.snapshot_sha256) for g in rows] == [(1, None), (2, ann2.sha256)]
    for a in ("gallery.upload", "gallery.erase", "gallery.download", "person.erase"):
        assert a in actions, a


# --- end to end: real broker, central under uvicorn, the edge's sync and face stage --------


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_edge_follows_central_snapshots_and_erasure_stops_the_match(
    make_broker, db_url: str, tmp_path: Path
) -> None:
    import httpx

    from central.config import MqttSettings
    from central.gallery_announcer import publish_retained
    from edge.faces.config import FacesConfig
    from edge.faces.stage import ViolatorFaces
    from edge.gallery_sync import GallerySync
    from edge.gateway_config import BrokerConfig, GalleryConfig
    from edge.outbox import Outbox
    from edge.transport.mqtt import MqttLink
    from tests.edge.faces.helpers import walking_frames
    from tests.integration.helpers import PASSWORDS, gallery_bytes, secure_broker, wait_until
    from tests.services import LiveServer, free_port

    def decide_obama3(stage: ViolatorFaces, track: int):
        for frame, box, t in walking_frames("obama3"):  # never enrolled: a new photo
            stage.observe(track, frame, box, t)
        return stage.decide(track)

    broker = secure_broker(make_broker, tls=False)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ctx = make_context(db_url, tmp_path / "central", api=ApiSettings(base_url=base))
    with ctx.sessions.begin() as s:
        create_user(s, SYSTEM, "ada", PASSWORD, "admin")
        for pid in ("p-obama", "p-biden"):
            persons.enrol(s, ADMIN, ctx.rules, "+447400123456", "order", None, pid)
    mqtt_settings = MqttSettings(
        host=broker.host,
        port=broker.port,
        username="central",
        password=PASSWORDS["central"],
        client_id="central-api",
    )
    app = create_app(ctx, announce_gallery=functools.partial(publish_retained, mqtt_settings))
    stage = ViolatorFaces(FacesConfig(), None)
    cfg = GalleryConfig(
        path=tmp_path / "edge" / "gallery.npz", timeout_s=5, retry_min_s=0.2, retry_max_s=0.5
    )
    cfg.path.parent.mkdir()
    pw = tmp_path / "pw"
    pw.write_text(PASSWORDS["gw-a"])
    outbox = Outbox(tmp_path / "edge" / "outbox.sqlite")
    link = MqttLink(
        "gw-a",
        BrokerConfig(host=broker.host, port=broker.port, tls=False, password_file=pw),
        outbox,
    )
    sync = GallerySync(cfg, [stage])
    sync.attach(link)
    sync.start()
    link.start()
    try:
        with LiveServer(app, port):
            assert link.wait_connected(10)
            built = gallery_bytes(
                {"p-obama": ["obama", "obama2"], "p-biden": ["biden"]}, 7, tmp_path / "built.npz"
            )
            with httpx.Client(base_url=base, timeout=30) as http:
                r = http.post("/api/auth/login", json={"username": "ada", "password": PASSWORD})
                auth = {"Authorization": f"Bearer {r.json()['token']}"}
                r = http.post("/api/gallery", content=built, headers=auth)
                assert r.status_code == 201, r.text
                wait_until(lambda: sync.version() == "1", 60, "gallery 1 installed from central")
                assert sync.state.sha256 == r.json()["sha256"]
                d = decide_obama3(stage, 1)
                assert d.match is not None and d.match.person_id == "p-obama", d.reason
                assert d.match.gallery_version == 1

                r = http.delete("/api/persons/p-obama", headers=auth)
                assert r.status_code == 200 and r.json()["version"] == 2, r.text
                wait_until(lambda: sync.version() == "2", 60, "gallery 2 installed from central")
            assert Gallery.load(cfg.path).persons == ["p-biden"]
            d = decide_obama3(stage, 2)
            assert d.match is None or d.match.person_id != "p-obama"
            assert sync.state.failures == 0, sync.state.last_error
    finally:
        sync.stop()
        link.stop()
        outbox.close()
        ctx.close()
