"""Display screens: anonymised feed (page, JSON, SSE, MQTT), blurred images, withdrawal."""

from __future__ import annotations

import io
import json
import queue
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from PIL import Image

from central.display.blur import blur_person_jpeg, padded_box
from central.display.mqtt import DisplayMqttPublisher
from central.workflow.appeals import decide_appeal, submit_appeal
from central.workflow.review import confirm as wf_confirm
from jaywatch import wire
from tests.central.helpers import OPERATOR, SUPERVISOR
from tests.central.web.util import confirm, csrf_of, login
from tests.central.web.world import (
    DEVICE,
    ENTRY_PHOTO,
    PERSON_BOX,
    PERSON_NAME,
    PERSON_PHONE,
    SCENE_PHOTO,
    World,
    build_world,
    jpeg_of,
)
from tests.services import LiveServer

REPO = Path(__file__).resolve().parents[3]
YUNET = REPO / "models" / "face_yunet_2023mar.onnx"


def forbidden_strings(world: World, ref: str, eid: str) -> list[str]:
    """Everything that identifies the person or the case, in the forms it could leak."""
    national = "0" + PERSON_PHONE[3:]
    return [
        *PERSON_NAME.split(),
        PERSON_PHONE,
        PERSON_PHONE[1:],
        national,
        f"{national[:5]} {national[5:]}",
        world.person_id,
        ref,
        world.access_code(ref),
        eid,
        "data:image",  # no inline (unblurred) evidence
        "/console/",  # no link to the staff evidence URLs
    ]


def assert_clean(text: str, bad: list[str]) -> None:
    low = text.lower()
    for b in bad:
        assert b.lower() not in low, f"display output carries {b!r}"


def faces(jpeg: bytes) -> np.ndarray:
    """YuNet (the edge's face model) at OpenCV's default score threshold."""
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    det = cv2.FaceDetectorYN.create(str(YUNET), "", (img.shape[1], img.shape[0]))
    _, found = det.detect(img)
    return np.zeros((0, 15)) if found is None else found


def test_displayed_image_has_the_person_blurred(world: World, client: TestClient) -> None:
    eid = world.ingest()
    login(client, "olive")
    confirm(client, eid)
    feed = client.get("/display/gw-main/feed.json").json()
    (item,) = feed["items"]
    shown = client.get(item["image_url"])
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    raw = jpeg_of(ENTRY_PHOTO)
    assert len(faces(raw)) >= 1  # the raw frame shows a detectable face …
    assert len(faces(shown.content)) == 0  # … the screen's copy does not
    a = np.asarray(Image.open(io.BytesIO(raw)).convert("L"), dtype=np.float64)
    b = np.asarray(Image.open(io.BytesIO(shown.content)).convert("L"), dtype=np.float64)
    assert a.shape == b.shape
    x1, y1, x2, y2 = (int(v) for v in PERSON_BOX)
    inside = np.zeros(a.shape, bool)
    inside[y1:y2, x1:x2] = True

    def detail(img: np.ndarray) -> float:  # high-frequency energy inside the person's box
        return float(np.abs(cv2.Laplacian(img, cv2.CV_64F))[inside].mean())

    assert detail(b) < detail(a) / 4


def test_blur_changes_the_person_box_and_leaves_the_street() -> None:
    """On a street scene: the person's padded box loses its detail, the rest stays."""
    box = (687.0, 300.0, 742.0, 411.0)  # sample_media/photos/people.json, vtest_0400
    raw = jpeg_of(SCENE_PHOTO)
    out = blur_person_jpeg(raw, box)
    a = np.asarray(Image.open(io.BytesIO(raw)).convert("L"), dtype=np.float64)
    b = np.asarray(Image.open(io.BytesIO(out)).convert("L"), dtype=np.float64)
    x1, y1, x2, y2 = padded_box(box, a.shape[1], a.shape[0])
    inside = np.zeros(a.shape, bool)
    inside[y1:y2, x1:x2] = True
    lap_a = np.abs(cv2.Laplacian(a, cv2.CV_64F))
    lap_b = np.abs(cv2.Laplacian(b, cv2.CV_64F))
    assert lap_b[inside].mean() < lap_a[inside].mean() / 4
    diff = np.abs(a - b)
    assert diff[~inside].mean() < diff[inside].mean() / 4  # elsewhere: JPEG noise only


def test_screen_outputs_never_carry_personal_data(world: World, client: TestClient) -> None:
    eid = world.ingest()
    login(client, "olive")
    ref = confirm(client, eid)
    client.cookies.clear()  # screens are anonymous
    bad = forbidden_strings(world, ref, eid)
    page = client.get("/display/gw-main")
    assert page.status_code == 200
    feed = client.get("/display/gw-main/feed.json")
    assert len(feed.json()["items"]) == 1
    assert_clean(page.text, bad)
    assert_clean(feed.text, bad)
    for key in ("name", "phone", "person", "reference"):
        assert key not in json.dumps(feed.json()["items"]).lower()
    assert client.get("/display/nowhere").status_code == 404
    assert client.get("/display/nowhere/events").status_code == 404
    # Another intersection's screen shows nothing from this one.
    assert client.get("/display/gw-other/feed.json").json()["items"] == []


def sse_events(resp: httpx.Response) -> Iterator[dict]:
    data = []
    for line in resp.iter_lines():
        if line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and data:
            yield json.loads("\n".join(data))
            data = []


def test_sse_updates_live_and_withdrawn_item_vanishes(world: World, client: TestClient) -> None:
    e1 = world.ingest()
    with (
        LiveServer(world.app) as srv,
        httpx.Client(base_url=srv.url, timeout=httpx.Timeout(10.0)) as http,
        http.stream("GET", "/display/gw-main/events") as resp,
    ):
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = sse_events(resp)
        assert next(events)["items"] == []
        # A decision taken elsewhere (another process: no poke) reaches the screen by polling.
        with world.ctx.sessions.begin() as s:
            fine = wf_confirm(s, OPERATOR, world.ctx.rules, e1).fine
            ref = fine.reference
        update = next(events)
        assert len(update["items"]) == 1 and update["counters"] == {"today": 1, "week": 1}
        assert_clean(json.dumps(update), forbidden_strings(world, ref, e1))
        item_id = update["items"][0]["item_id"]
        with world.ctx.sessions.begin() as s:
            appeal = submit_appeal(
                s, SUPERVISOR, world.ctx.evidence, world.ctx.rules, ref, "on behalf: wrong"
            )
            appeal_id = appeal.id
        login(client, "sam")
        page = client.get(f"/console/appeals/{appeal_id}")
        r = client.post(
            f"/console/appeals/{appeal_id}/decide",
            data={"csrf_token": csrf_of(page.text), "decision": "uphold", "note": "ok"},
        )
        assert r.status_code == 200
        # An update may come between (the appeal being filed touches the feed under load);
        # the withdrawal must still arrive, within a few updates.
        for _ in range(5):
            gone = next(events)
            if gone["withdrawn"]:
                break
        assert gone["items"] == [] and gone["withdrawn"] == [item_id]
        assert gone["counters"] == {"today": 0, "week": 0}
    assert client.get(f"/display/gw-main/image/{item_id}.jpg").status_code == 404


@pytest.mark.broker
def test_feed_is_published_on_the_mqtt_display_topic(tmp_path: Path, broker) -> None:  # type: ignore[no-untyped-def]
    from central.config import MqttSettings

    got: queue.Queue[bytes] = queue.Queue()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sign-1", protocol=mqtt.MQTTv5)
    ready = threading.Event()
    sub.on_subscribe = lambda *a: ready.set()
    sub.on_connect = lambda c, *a: c.subscribe(wire.display_topic(DEVICE), qos=1)
    sub.on_message = lambda c, u, m: got.put(m.payload)
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    assert ready.wait(10)
    w = build_world(f"sqlite:///{tmp_path / 'c.db'}", tmp_path)
    pub = DisplayMqttPublisher(MqttSettings(host=broker.host, port=broker.port))
    w.web.hub.publisher = pub
    try:
        eid = w.ingest()
        w.web.hub.start()
        first = json.loads(got.get(timeout=10))
        assert first["screen_id"] == DEVICE and first["items"] == []
        with w.ctx.sessions.begin() as s:
            ref = wf_confirm(s, OPERATOR, w.ctx.rules, eid).fine.reference
        w.web.hub.poke()
        shown = json.loads(got.get(timeout=10))
        assert len(shown["items"]) == 1
        raw = json.dumps(shown)
        assert_clean(raw, forbidden_strings(w, ref, eid)[:-2])
        with w.ctx.sessions.begin() as s:
            a = submit_appeal(s, SUPERVISOR, w.ctx.evidence, w.ctx.rules, ref, "x")
            decide_appeal(s, SUPERVISOR, w.ctx.rules, a.id, uphold=True, note="ok")
        w.web.hub.poke()
        gone = json.loads(got.get(timeout=10))
        assert gone["items"] == [] and gone["withdrawn"] == [shown["items"][0]["item_id"]]
    finally:
        w.web.hub.stop()
        pub.close()
        sub.loop_stop()
        sub.disconnect()
        w.ctx.close()


def test_kiosk_page_escapes_script_breakout(world: World, client: TestClient) -> None:
    """A place name is admin-entered text: it must not end the inline JSON script."""
    from central.store.models import Device

    with world.ctx.sessions.begin() as s:
        s.get(Device, DEVICE).place = "</script><script>alert(1)</script>"
    html = client.get("/display/gw-main").text
    initial = re.search(r'<script type="application/json" id="initial">(.*?)</script>', html, re.S)
    assert initial is not None
    assert json.loads(initial.group(1))["place"] == "</script><script>alert(1)</script>"
