"""A controller-wired camera on the real gateway process, fed live over MQTT.

``jaywatch edge run`` (a subprocess) watches the synthetic_rules scene replayed in real
time as an MJPEG stream; its camera has ``signal.source: controller``. The test is the
signal bridge: logged in as ``signal-bridge`` on mosquitto with the shipped ACL, it
publishes the scene's signal schedule as ``SignalPhaseMessage`` messages in time with the video,
with the controller's clock 3 s ahead of the gateway's. Central's real ingest stores the
events. The violations match what the ROI colour reader finds on the same frames; the
skew is measured; bad messages are logged and counted without harm; another device may
not publish phases; a feed that falls silent reads UNKNOWN and says so.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml

from edge.capture import VideoFileSource
from edge.config import load_camera_config
from edge.evaluation import match_violations
from edge.pipeline import build_pipeline
from jaywatch import wire
from tests.integration.helpers import (
    ACL,
    PASSWORDS,
    SCENES,
    Central,
    gateway_yaml,
    ground_truth,
    start_edge,
    wait_until,
)
from tests.replay_camera import ReplayCamera
from tests.services import free_port

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SCENE = SCENES / "synthetic_rules"
END_S = 19.0  # the bridge stops here; V enters at 12.0 s, P and R at 16.0 s (red since 8.0 s)
SKEW_S = 3.0  # the controller's clock runs this far ahead of the gateway's
BRIDGE_PW = "bridge-pw"


def _roi_reference(until_s: float) -> list[dict]:
    """What the ROI colour reader finds on the same video (offline, same pipeline)."""
    cfg = load_camera_config(SCENE / "camera.yaml")
    pipeline = build_pipeline(cfg)
    out = []
    for f in VideoFileSource(SCENE / "video.mp4", cfg.fps):
        if f.t > until_s:
            break
        out += pipeline.process(f)
    out += pipeline.flush()
    return [{"t_entry_s": v.entry.t, "foot_xy": list(v.entry.foot)} for v in out]


def _client(broker, user: str, password: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{user}-t", protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


@pytest.mark.timeout(240)
def test_live_controller_feed_gives_the_roi_readers_violations(make_broker, tmp_path: Path):
    broker = make_broker(passwords={**PASSWORDS, "signal-bridge": BRIDGE_PW}, dynsec_acl=ACL)
    key = wire.generate_device_key()
    central = Central.create(f"sqlite:///{tmp_path}/c.db", tmp_path / "central", broker)
    central.register("gw-a", key, ["live-ctrl"])
    central.start()

    cam = ReplayCamera(SCENE / "video.mp4", fps=10.0, end_s=END_S + 10.0)  # bridge stops at END_S
    data = yaml.safe_load((SCENE / "camera.yaml").read_text())
    data.update(id="live-ctrl", source=cam.url)
    data["signal"] = {
        **data["signal"],
        "source": "controller",
        "signal_group": "P1",
        "controller_timeout_s": 3.0,
    }
    data["stream"] = {"reconnect_max_s": 0.5}
    data["faces"] = {"enabled": False}  # not under test; spares the CPU for real time
    cam_yaml = tmp_path / "cam.yaml"
    cam_yaml.write_text(yaml.safe_dump(data))
    http_port = free_port()
    cfg = gateway_yaml(
        tmp_path / "gw",
        "gw-a",
        broker,
        [cam_yaml],
        key,
        signal_feed={"http": {"host": "127.0.0.1", "port": http_port}},
    )
    log = tmp_path / "edge.log"
    proc = start_edge(cfg, log)
    bridge = _client(broker, "signal-bridge", BRIDGE_PW)
    intruder = _client(broker, "gw-b", PASSWORDS["gw-b"])
    topic = wire.signal_phase_topic("gw-a")
    schedule = ground_truth("synthetic_rules")["signal_schedule"]
    try:
        wait_until(lambda: "connected to" in log.read_text(), 60, "gateway connected")
        wait_until(lambda: "HTTP input on" in log.read_text(), 30, "HTTP input up")
        time.sleep(1.0)
        cam.start()
        seq, bad_sent, sent_phase, sent_at = 0, 0, None, -1.0
        while cam.now_s() < END_S + 4.0:
            v = cam.now_s()
            time.sleep(0.02)
            if v >= END_S:  # the bridge falls silent while frames go on: stale
                continue
            cur = next(s for s in schedule if s["from_s"] <= v < s["to_s"])
            changed = cur["phase"] != sent_phase
            if not changed and v - sent_at < 1.0:
                continue
            # A change is reported at once with its own time; heartbeats repeat it.
            ctrl_time = cam.t0_wall + (cur["from_s"] if changed else v) + SKEW_S
            msg = wire.SignalPhaseMessage(
                site="gw-a",
                signal_group="P1",
                phase=cur["phase"],
                controller_time=ctrl_time,
                seq=seq,
                bridge="test",
            )
            bridge.publish(topic, msg.model_dump_json(), qos=1)
            seq, sent_phase, sent_at = seq + 1, cur["phase"], v
            # Another group at the site, and a device pretending to be the bridge (the
            # ACL drops it): neither may change this camera's phase.
            other = msg.model_copy(update={"signal_group": "P2", "phase": "green"})
            bridge.publish(topic, other.model_dump_json(), qos=1)
            fake = msg.model_copy(update={"phase": "green", "seq": 10_000 + seq})
            intruder.publish(topic, fake.model_dump_json(), qos=1)
            if bad_sent < 3:
                bad = [b"\xff\x00garbage", b'{"site": "gw-a"}', b"[]"][bad_sent]
                bridge.publish(topic, bad)
                bad_sent += 1
        # The LAN input takes the same messages (and says what is wrong with a bad one).
        req = urllib.request.Request(
            f"http://127.0.0.1:{http_port}/phase",
            data=json.dumps({"site": "gw-a", "signal_group": "P1", "phase": "purple",
                             "controller_time": time.time()}).encode(),
            method="POST",
        )  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as bad:
            urllib.request.urlopen(req, timeout=5)
        assert bad.value.code == 400
        wait_until(lambda: "silent for more than 3.0 s" in log.read_text(), 20, "stale logged")
        # Each violation's clip is rendered (faces blurred frame by frame) before it is
        # sent: on a busy 2-core machine that alone can take tens of seconds.
        wait_until(lambda: central.count() >= 1, 120, "events stored")
        time.sleep(3.0)  # any last event through the outbox
        assert proc.poll() is None, "the gateway died"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        bridge.disconnect()
        intruder.disconnect()
        cam.stop()
    text = log.read_text()
    events = central.events()
    central.close()

    live = []
    for e in events:
        x1, _y1, x2, y2 = e.payload["bbox"]
        when = datetime.fromisoformat(e.payload["occurred"]).timestamp()
        live.append({"t": when - cam.t0_wall, "foot": [(x1 + x2) / 2, y2]})
    assert all(e.payload["signal"]["source"] == "controller" for e in events)
    assert all(e.payload["signal"]["phase"] == "red" for e in events)
    reference = _roi_reference(END_S - 1.0)
    assert len(reference) >= 3  # V, P and R
    # Live times are wall-clock arrival of the frame, which lags the video by the decode
    # and pipeline latency (over 1 s at times on a loaded machine): 2 s, same foot point.
    pairs = match_violations(reference, live, dt_s=2.0, foot_px=30)
    # Every live violation is one the ROI reader finds, and it finds them (on an idle
    # machine all three; a real-time replay on an overloaded one can drop frames and
    # lose the side-by-side pair to tracking, never add a violation).
    assert len(pairs) == len(live) >= 1, (reference, live)
    # Time since red as the controller said, within a frame or two of the ROI reader's.
    for e in events:
        assert 0.5 < e.payload["signal"]["red_for_s"] < 10.0

    # Skew measured: the controller runs 3 s ahead (minus the network delay).
    skew_lines = [ln for ln in text.splitlines() if "controller clock" in ln]
    assert skew_lines, text[-3000:]
    measured = float(skew_lines[-1].split("controller clock ")[1].split(" s")[0])
    assert abs(measured - SKEW_S) < 0.5, skew_lines[-1]
    # Bad messages: one line each, counted, no traceback.
    assert text.count("message rejected") >= 3 and "Traceback" not in text
