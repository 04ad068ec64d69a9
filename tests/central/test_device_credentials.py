"""``jaywatch central device add`` prints credentials the shipped broker set-up accepts:
username = device id (what the ACL's ``%u`` patterns and the gateway's default username
assume), and per-user ACL lines equal to what those patterns grant. Checked against the
real ACL file and a real mosquitto running it."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.gateway_config import GatewayConfig
from jaywatch import wire
from tests.central.helpers import REPO
from tests.central.test_cli import run
from tests.integration.helpers import wait_until

# deploy/mosquitto/jaywatch.conf installs this file as /etc/mosquitto/jaywatch.acl.
ACL_FILE = REPO / "config" / "mosquitto" / "jaywatch.acl"
DEVICE = "gw-42.north_1"


def _pattern_grants(acl_text: str, username: str) -> set[str]:
    """The ``pattern`` rules of an ACL file as ``topic <access> <topic>`` lines for one user."""
    grants = set()
    for line in acl_text.splitlines():
        parts = line.split()
        if parts and parts[0] == "pattern":
            access, topic = (parts[1], parts[2]) if len(parts) == 3 else ("readwrite", parts[1])
            grants.add(f"topic {access} {topic.replace('%u', username)}")
    return grants


def _device_add(tmp_path: Path) -> dict[str, object]:
    cfg = tmp_path / "central.yaml"
    cfg.write_text(
        f"database_url: sqlite:///{tmp_path / 'c.db'}\nevidence_dir: {tmp_path / 'ev'}\n"
        f"fines_file: {REPO / 'config' / 'fines.yaml'}\n"
    )
    assert run(cfg, "migrate").returncode == 0
    key = wire.public_key_bytes(wire.generate_device_key()).hex()
    out = run(cfg, "device", "add", DEVICE, "--public-key", key)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    user = re.search(r"^mqtt username: (\S+)$", text, re.M)
    pw = re.search(r"^mqtt password: (\S+)$", text, re.M)
    assert user and pw, text
    acl_lines = [ln for ln in text.splitlines() if ln.startswith(("user ", "topic "))]
    return {"username": user[1], "password": pw[1], "acl": acl_lines, "stdout": text}


def test_printed_username_is_the_device_id_and_acl_matches_the_shipped_patterns(
    tmp_path: Path,
) -> None:
    printed = _device_add(tmp_path)
    assert printed["username"] == DEVICE
    # The gateway logs in with its device id unless told otherwise.
    gw = GatewayConfig.model_validate(
        {
            "device_id": DEVICE,
            "key_file": "k",
            "broker": {"host": "b"},
            "outbox": {"path": "o"},
            "cameras": ["c.yaml"],
        }
    )
    assert gw.mqtt_username == printed["username"]
    acl = printed["acl"]
    assert acl[0] == f"user {DEVICE}"
    shipped = _pattern_grants(ACL_FILE.read_text(), str(printed["username"]))
    assert shipped, f"{ACL_FILE}: no pattern rules found"
    assert set(acl[1:]) == shipped
    assert f"mosquitto_passwd -b <password_file> {DEVICE} " in str(printed["stdout"])


@pytest.mark.broker
def test_printed_credentials_log_in_and_publish_under_the_shipped_acl(
    tmp_path: Path, make_broker
) -> None:
    printed = _device_add(tmp_path)
    user, password = str(printed["username"]), str(printed["password"])
    broker = make_broker(
        passwords={"central": "central-pw", user: password}, acl=ACL_FILE.read_text()
    )
    got: list[str] = []
    subscribed = threading.Event()
    central = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="c", protocol=mqtt.MQTTv5)
    central.username_pw_set("central", "central-pw")
    central.on_message = lambda _c, _u, m: got.append(m.topic)
    central.on_subscribe = lambda *_a: subscribed.set()
    central.connect(broker.host, broker.port)
    central.subscribe(wire.VIOLATION_WILDCARD, qos=1)
    central.loop_start()
    dev = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
    dev.username_pw_set(user, password)
    try:
        assert subscribed.wait(10)
        assert dev.connect(broker.host, broker.port) == 0
        dev.loop_start()
        # Another device's topic is refused by the ACL; the topic the gateway publishes
        # on (named by its device id) goes through. QoS 1 and in order: once the second
        # arrives, the first would have arrived before it.
        dev.publish(wire.violation_topic("gw-other"), b"x", qos=1).wait_for_publish(10)
        dev.publish(wire.violation_topic(DEVICE), b"x", qos=1).wait_for_publish(10)
        wait_until(lambda: bool(got), 10, f"central to receive {DEVICE}'s violation")
        assert got == [wire.violation_topic(DEVICE)]
    finally:
        dev.loop_stop()
        dev.disconnect()
        central.loop_stop()
        central.disconnect()
