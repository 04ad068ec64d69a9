"""A validly signed gateway doing what the ACL allows but nobody meant cannot hurt central
(README Known gaps, fixed here): ``jaywatch central serve`` with
config/central.example.yaml, a real mosquitto with the shipped ACL, SQLite and
PostgreSQL. ``gw-evil`` floods its own topics with thousands of messages —

- 1,500 signed snapshots of one camera as fast as it can (central keeps one per
  ``ingest.snapshot_min_interval_s`` and drops the rest, counted on the device),
- 1,000 signed snapshots of ever new camera ids (past the 64-camera cap: refused),
- 1,500 small distinct bad violations (junk JSON),

while ``gw-good`` keeps sending real violations. Asserted: every honest event is stored
and acknowledged during the flood; health answers 200 throughout and tells the worker is
running; every flood message is accounted for (kept, dropped or counted in a coalesced
dead letter: nothing silently lost); the dead letters keep at most their per-topic budget
of rows and their bytes stay within the cap; the admin sees who floods (the dead-letter
API and page, GET /api/devices)."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from PIL import Image

from central.ingest.store import EVICTED_KEEP, MAX_SNAPSHOT_CAMERAS
from central.store.models import CameraSnapshot, DeadLetter, DeadLetterBytes, Event
from jaywatch import wire
from tests.central.helpers import violation
from tests.integration.central_serve import CentralServe, Gateway, acl_broker, wait_until
from tests.services import Broker

pytestmark = [pytest.mark.broker]

EVIL, GOOD = "gw-evil", "gw-good"
PER_TOPIC = 200
CAP = 1 << 20  # the smallest the config allows: the flood must press against it
SAME_CAMERA, CHURN, JUNK = 1500, 1000, 1500
PHOTO = Path(__file__).resolve().parents[2] / "sample_media" / "photos" / "vtest_0400.jpg"


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.open(PHOTO).convert("RGB").resize((320, 240)).save(out, "JPEG", quality=60)
    return out.getvalue()


@pytest.fixture
def keys() -> dict[str, Any]:
    return {EVIL: wire.generate_device_key(), GOOD: wire.generate_device_key()}


@pytest.fixture
def central(
    db_url: str, make_broker: Callable[..., Broker], tmp_path: Path, keys: dict[str, Any]
) -> Iterator[CentralServe]:
    broker = acl_broker(make_broker, [EVIL, GOOD])
    c = CentralServe(
        tmp_path / "central",
        broker,
        db_url,
        overrides={
            "ingest": {"dead_letters_per_topic": PER_TOPIC, "dead_letters_max_total_bytes": CAP}
        },
    )
    c.setup(keys, {"ada": "admin", "olive": "operator"})
    c.start()
    yield c
    c.stop()


def _flood(gw: Gateway, kind: str, payloads: list[bytes]) -> None:
    """Publish all at QoS 1 without waiting for each (as a hostile client would)."""
    infos = [gw.c.publish(f"{wire.TOPIC_ROOT}/{gw.device_id}/{kind}", p, qos=1) for p in payloads]
    for i in infos:
        i.wait_for_publish(120)
        assert i.rc == mqtt.MQTT_ERR_SUCCESS


def test_a_flooding_device_is_bounded_counted_and_shown_while_others_flow(
    central: CentralServe, keys: dict[str, Any]
) -> None:
    evil, good = Gateway(central.broker, EVIL), Gateway(central.broker, GOOD)
    k = keys[EVIL]
    jpeg_b64 = base64.b64encode(_jpeg()).decode()
    t0 = wire.utcnow()

    def snap(camera: str, i: int) -> bytes:
        m = wire.CameraSnapshot(
            device_id=EVIL, camera_id=camera, taken=t0 + timedelta(milliseconds=i),
            width=320, height=240, jpeg_b64=jpeg_b64,
        )  # fmt: skip
        return wire.sign_message(m, k).model_dump_json().encode()

    same = [snap("cam-1", i) for i in range(SAME_CAMERA)]
    churn = [snap(f"churn-{i}", i) for i in range(CHURN)]
    junk = [json.dumps({"kind": "violation", "junk": i}).encode() for i in range(JUNK)]

    health: list[tuple[int, dict]] = []
    stop = threading.Event()

    def watch_health() -> None:
        while not stop.is_set():
            try:
                r = central.health()
                health.append((r.status_code, r.json()))
            except httpx.HTTPError as e:  # a health endpoint that does not answer is a failure
                health.append((0, {"error": str(e)}))
            stop.wait(0.5)

    watcher = threading.Thread(target=watch_health, daemon=True)
    watcher.start()
    honest: list[str] = []
    try:
        for batch in (same, churn, junk):
            kind = "violation" if batch is junk else "snapshot"
            flooder = threading.Thread(target=_flood, args=(evil, kind, batch))
            flooder.start()
            # The honest gateway sends while the flood is on its way.
            for _ in range(5):
                ev = violation(keys[GOOD], device_id=GOOD, images=1)
                good.publish("violation", ev.model_dump_json())
                honest.append(ev.event_id)
            flooder.join(300)
            assert not flooder.is_alive()

        def all_stored() -> bool:
            return all((a := good.ack_for(i)) is not None and a.status == "stored" for i in honest)

        wait_until(all_stored, 240, "every honest event stored and acknowledged during the flood")
        total = SAME_CAMERA + CHURN + JUNK

        def handled() -> int:
            c = central.health().json()["ingest"]["counts"]
            return sum(c.get(s, 0) for s in ("snapshot", "snapshot_dropped", "rejected"))

        wait_until(lambda: handled() >= total, 300, "every flood message handled")
    finally:
        stop.set()
        watcher.join(5)
        evil.close()
        good.close()

    # Health answered 200 all along, and honestly: worker running, never restarted.
    assert health and all(code == 200 for code, _ in health), [h for h in health if h[0] != 200]
    last = central.health().json()["ingest"]
    assert last["worker"] == "running" and last["worker_restarts"] == 0
    counts = last["counts"]
    assert {e for (e,) in central.rows(sa.select(Event.event_id))} == set(honest)

    # Every flood message accounted for: stored, dropped (counted) or dead-lettered.
    stored_cams = {c for (c,) in central.rows(sa.select(CameraSnapshot.camera_id))}
    assert "cam-1" in stored_cams and len(stored_cams) == MAX_SNAPSHOT_CAMERAS
    refused_churn = CHURN - (MAX_SNAPSHOT_CAMERAS - 1)
    assert counts["rejected"] == refused_churn + JUNK
    # ... the 63 new cameras' snapshots stored, the one camera's flood stored or dropped
    assert counts["snapshot"] + counts["snapshot_dropped"] == SAME_CAMERA + MAX_SNAPSHOT_CAMERAS - 1
    assert counts["snapshot_dropped"] > 0

    # The dead letters: at most PER_TOPIC rows of their own per topic, the rest counted
    # in one coalesced row per kind of reason; no message silently gone.
    rows = central.rows(
        sa.select(DeadLetter.topic, DeadLetter.group_key, DeadLetter.messages,
                  sa.func.length(DeadLetter.raw))
    )  # fmt: skip
    per_topic: dict[str, int] = {}
    for topic, group, _n, _b in rows:
        if group is None:
            per_topic[topic] = per_topic.get(topic, 0) + 1
    assert per_topic == {
        wire.snapshot_topic(EVIL): PER_TOPIC,
        wire.violation_topic(EVIL): PER_TOPIC,
    }
    groups = {(t, g): n for t, g, n, _b in rows if g is not None}
    assert groups == {
        (wire.snapshot_topic(EVIL), "camera_id"): refused_churn - PER_TOPIC,
        (wire.violation_topic(EVIL), "invalid"): JUNK - PER_TOPIC,
    }
    assert sum(n for _t, _g, n, _b in rows) == counts["rejected"]
    kept = sum(b for *_x, b in rows)
    assert kept <= CAP + len(groups) * EVICTED_KEEP, kept
    (tracked,) = central.rows(sa.select(sa.func.sum(DeadLetterBytes.n)))[0]
    assert tracked == kept  # the database's kept total is exact

    # The admin sees it: the API names the device and the counts, the page says so.
    admin = central.bearer("ada")
    r = httpx.get(f"{central.url}/api/dead-letters?limit=1000", headers=admin, timeout=30)
    assert r.status_code == 200, r.text
    listed = r.json()
    assert listed[0]["coalesced"] and listed[1]["coalesced"]
    assert {(d["device_id"], d["group"], d["messages"]) for d in listed[:2]} == {
        (EVIL, "camera_id", refused_churn - PER_TOPIC),
        (EVIL, "invalid", JUNK - PER_TOPIC),
    }
    assert sum(d["messages"] for d in listed) == counts["rejected"]
    assert not any(d["requeueable"] for d in listed[:2])
    gid = listed[0]["id"]
    r = httpx.post(f"{central.url}/api/dead-letters/{gid}/requeue", headers=admin, timeout=30)
    assert r.status_code == 409 and "coalesced" in r.text, r.text
    page = central.console("ada").get("/console/dead-letters")
    assert page.status_code == 200 and "messages coalesced" in page.text and EVIL in page.text

    devs = httpx.get(f"{central.url}/api/devices", headers=admin, timeout=30).json()
    by_id = {d["id"]: d for d in devs}
    assert by_id[EVIL]["snapshots_dropped"] == counts["snapshot_dropped"]
    assert by_id[EVIL]["snapshots_dropped_last"] is not None
    assert by_id[GOOD]["snapshots_dropped"] == 0
    devices_page = central.console("olive").get("/console/devices")
    assert devices_page.status_code == 200
    assert f"{counts['snapshot_dropped']} snapshots dropped" in devices_page.text
