"""The devices page's camera snapshot end to end, with the shipped parts: a live MJPEG
camera showing a real street frame with real people (sample_media/photos/vtest_0400.jpg),
the real `jaywatch edge run` (snapshot every 5 s), mosquitto with passwords and the
shipped ACL (dynamic-security plugin), `jaywatch central serve` from
config/central.example.yaml, and Chromium logged in as an operator.

Asserted: the thumbnail shows on /console/devices with its age; the image the page loads
is at most 320 px wide and every person annotated by eye in people.json is smeared in it
(the camera's picture never moves, so the frame loop's motion gate gives no boxes at all:
the snapshot's own detector run found them); GET /api/devices names the same URL; the
image answers with nosniff and only to the page's roles (an auditor gets 403, nobody
logged in 401); gw-b, with its own valid login, cannot publish on gw-a's snapshot topic;
hostile bytes on its own (a decompression-bomb header, garbage after a JPEG marker) are
dead-lettered by `central serve`, which stays healthy and keeps the last good picture.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.workflow.common import SYSTEM
from central.workflow.devices import register_device
from jaywatch import wire
from tests.browser.a11y import check_page
from tests.browser.axe import assert_no_serious
from tests.central.helpers import make_context
from tests.integration.helpers import (
    PASSWORDS,
    REPO,
    camera_yaml,
    gateway_yaml,
    secure_broker,
    start_edge,
    wait_until,
)
from tests.integration.test_camera_faults import MjpegCamera
from tests.integration.test_camera_health_end_to_end import central_config, jaywatch
from tests.services import free_port

pytestmark = [pytest.mark.broker, pytest.mark.slow, pytest.mark.timeout(300)]
PHOTOS = REPO / "sample_media" / "photos"
PEOPLE = json.loads((PHOTOS / "people.json").read_text())["images"]["vtest_0400.jpg"]
PW = "correct horse battery staple"


def _detail(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x1, y1, x2, y2 = box
    grey = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def _publish_as(broker: object, user: str, topic: str, payload: bytes) -> str:
    """Publish once as ``user`` (MQTT 5) and return the PUBACK's reason."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, PASSWORDS[user])
    reasons: list[str] = []
    c.on_publish = lambda _c, _u, _mid, rc, _p: reasons.append(str(rc))
    c.connect(broker.host, broker.port)  # type: ignore[attr-defined]
    c.loop_start()
    try:
        c.publish(topic, payload, qos=1)
        deadline = time.monotonic() + 10
        while not reasons and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        c.disconnect()
        c.loop_stop()
    return reasons[0] if reasons else "no PUBACK"


def test_the_devices_page_shows_the_blurred_snapshot(
    make_broker, tmp_path: Path, browser, shots: Path
) -> None:
    broker = secure_broker(make_broker, tls=False)
    db_url = f"sqlite:///{tmp_path / 'central.db'}"
    http_port = free_port()
    cfg = central_config(tmp_path, db_url, broker.port, free_port())
    jaywatch("central", "--config", str(cfg), "migrate")
    for user, role in (("olive", "operator"), ("audrey", "auditor")):
        jaywatch("central", "--config", str(cfg), "user", "add", user, "--role", role,
                 env={"JAYWATCH_PASSWORD": PW})  # fmt: skip
    keys = {d: wire.generate_device_key() for d in ("gw-a", "gw-b")}
    ctx = make_context(db_url, tmp_path / "ctx")
    with ctx.sessions.begin() as s:
        for d, k in keys.items():
            register_device(s, SYSTEM, d, wire.public_key_bytes(k), "test crossing",
                            {"vtest-road": "Main St"})  # fmt: skip
    ctx.close()

    frame = cv2.imread(str(PHOTOS / "vtest_0400.jpg"))
    cam = MjpegCamera(frame, fps=5)
    cam_cfg = camera_yaml("vtest_road", tmp_path / "road.yaml", source=cam.url)
    edge_cfg = gateway_yaml(
        tmp_path / "gw", "gw-a", broker, [cam_cfg], keys["gw-a"],
        health={"interval_s": 2, "metrics_port": None, "snapshot_interval_s": 5},
    )  # fmt: skip
    serve = subprocess.Popen(
        [sys.executable, "-m", "jaywatch_app.cli", "central", "--config", str(cfg), "serve",
         "--port", str(http_port)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=(tmp_path / "serve.log").open("wb"),
        start_new_session=True,
    )  # fmt: skip
    edge = start_edge(edge_cfg, tmp_path / "edge.log")
    base = f"http://127.0.0.1:{http_port}"
    http = httpx.Client(base_url=base, timeout=30)
    try:

        def answers() -> bool:
            try:
                return http.get("/api/health").status_code in (200, 503)
            except httpx.TransportError:
                return False

        wait_until(answers, 60, "central serve to answer")
        page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        page.goto(f"{base}/console/login")
        page.fill("input[name=username]", "olive")
        page.fill("input[name=password]", PW)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/console/"))

        def thumbnail() -> bool:
            page.goto(f"{base}/console/devices")
            return page.locator('li[data-camera="vtest-road"] figure.snapshot img').count() == 1

        wait_until(thumbnail, 120, "the snapshot on /console/devices")
        img = page.locator('li[data-camera="vtest-road"] figure.snapshot img')
        page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle())
        assert img.evaluate("i => i.naturalWidth") == 320
        caption = page.locator('li[data-camera="vtest-road"] figure.snapshot figcaption')
        assert re.match(r"taken \d+ (s|min) ago", caption.inner_text()), caption.inner_text()
        assert "everyone blurred" in (img.get_attribute("alt") or "")
        page.screenshot(path=str(shots / "devices-snapshot.png"), full_page=True)
        check_page(page)  # labels, contrast (tests/browser/a11y.py)
        assert_no_serious(page)  # axe-core: no serious or critical violation

        # The bytes the page showed, fetched with its own session cookie.
        src = img.get_attribute("src") or ""
        got = page.evaluate(
            """async u => {
                 const r = await fetch(u); const b = new Uint8Array(await r.arrayBuffer());
                 let s = ''; for (const x of b) s += String.fromCharCode(x);
                 return {type: r.headers.get('content-type'),
                         nosniff: r.headers.get('x-content-type-options'), b64: btoa(s)}; }""",
            src,
        )
        assert got["type"] == "image/jpeg" and got["nosniff"] == "nosniff"
        thumb = cv2.imdecode(np.frombuffer(base64.b64decode(got["b64"]), np.uint8), 1)
        scale = thumb.shape[1] / frame.shape[1]
        plain = cv2.resize(frame, (thumb.shape[1], thumb.shape[0]), interpolation=cv2.INTER_AREA)
        for p in PEOPLE:
            x1, y1, x2, y2 = (v * scale for v in p["xyxy"])
            dx, dy = 0.15 * (x2 - x1), 0.1 * (y2 - y1)
            box = (int(x1 + dx), int(y1 + dy), int(x2 - dx), int(y2 - dy))
            assert _detail(thumb, box) < 0.25 * _detail(plain, box), p["note"]

        # The API names the same image; the roles and the headers are the page's.
        r = http.post("/api/auth/login", json={"username": "olive", "password": PW})
        bearer = {"Authorization": f"Bearer {r.json()['token']}"}
        (dev,) = [d for d in http.get("/api/devices", headers=bearer).json() if d["id"] == "gw-a"]
        (snap,) = dev["snapshots"]
        assert snap["camera_id"] == "vtest-road" and snap["url"] == src
        assert snap["width"] == 320 and snap["blurred_people"] >= 3
        assert http.get(snap["url"], headers=bearer).headers["x-content-type-options"] == "nosniff"
        # (plain requests: the login above also set a session cookie on ``http``)
        assert httpx.get(base + snap["url"]).status_code == 401
        r = httpx.post(f"{base}/api/auth/login", json={"username": "audrey", "password": PW})
        auditor = {"Authorization": f"Bearer {r.json()['token']}"}
        assert httpx.get(base + snap["url"], headers=auditor).status_code == 403
        gw_b = "/api/devices/gw-b/cameras/vtest-road/snapshot.jpg"
        assert http.get(gw_b, headers=bearer).status_code == 404

        # gw-b may not publish gw-a's snapshots (broker refuses), only its own.
        jpeg_b64 = base64.b64encode(cv2.imencode(".jpg", plain)[1]).decode()
        forged = wire.CameraSnapshot(
            device_id="gw-a", camera_id="vtest-road", taken=wire.utcnow(), width=320,
            height=240, jpeg_b64=jpeg_b64,
        )  # fmt: skip
        forged = wire.sign_message(forged, keys["gw-b"])
        assert _publish_as(broker, "gw-b", wire.snapshot_topic("gw-a"),
                           forged.model_dump_json().encode()) == "Not authorized"  # fmt: skip
        own = forged.model_copy(update={"device_id": "gw-b", "signature": None})
        own = wire.sign_message(own, keys["gw-b"])
        assert _publish_as(broker, "gw-b", wire.snapshot_topic("gw-b"),
                           own.model_dump_json().encode()) == "Success"  # fmt: skip
        wait_until(lambda: http.get(gw_b, headers=bearer).status_code == 200, 30, "gw-b's own")
        # Hostile bytes on its own snapshot topic (a bomb header, then plain garbage):
        # dead-lettered by `central serve`, which keeps serving, the picture unchanged.
        # (Another camera: the same one's next snapshot within ingest.snapshot_min_interval_s
        # would be dropped as too soon, before any check of its JPEG.)
        bomb = own.model_copy(
            update={"signature": None, "taken": wire.utcnow(), "camera_id": "cam-bomb"}
        )
        jpeg = bytearray(base64.b64decode(bomb.jpeg_b64))
        sof = jpeg.index(b"\xff\xc0")
        jpeg[sof + 5 : sof + 9] = (60000).to_bytes(2, "big") * 2
        bomb = wire.sign_message(
            bomb.model_copy(update={"jpeg_b64": base64.b64encode(bytes(jpeg)).decode()}),
            keys["gw-b"],
        )
        before = http.get(gw_b, headers=bearer).content
        for payload in (bomb.model_dump_json().encode(), b"\xff\xd8\xff" + os.urandom(3000)):
            assert _publish_as(broker, "gw-b", wire.snapshot_topic("gw-b"), payload) == "Success"

        def dead_letters() -> list[str]:
            with contextlib.closing(sqlite3.connect(tmp_path / "central.db")) as db:
                q = "SELECT reason FROM dead_letters WHERE topic = 'jaywatch/v1/gw-b/snapshot'"
                return [r[0] for r in db.execute(q)]

        wait_until(lambda: len(dead_letters()) == 2, 30, "two dead letters")
        assert any("DecompressionBomb" in r for r in dead_letters()), dead_letters()
        assert http.get("/api/health").status_code == 200
        assert http.get(gw_b, headers=bearer).content == before
        assert serve.poll() is None and edge.poll() is None
    finally:
        http.close()
        for p in (edge, serve):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(30)
        cam.stop()
    assert "snapshot not anonymised" not in (tmp_path / "edge.log").read_text()
