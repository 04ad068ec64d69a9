"""``jaywatch central device add`` prints credentials the shipped broker set-up accepts:
username = device id (what the ACL's ``%u`` patterns and the gateway's default username
assume), and the mosquitto_ctrl (dynamic-security) lines that create exactly what those
patterns grant, with the login bound to client id = device id. Checked against the real
ACL file and a real mosquitto running the dynsec plugin."""

from __future__ import annotations

import re
import shlex
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.gateway_config import GatewayConfig
from jaywatch import wire
from jaywatch.broker_acl import device_commands, load_acl, shell_lines
from tests.central.helpers import REPO
from tests.central.test_cli import run
from tests.integration.helpers import wait_until
from tests.services import DYNSEC_ADMIN

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
    ctrl = [ln for ln in text.splitlines() if ln.startswith("mosquitto_ctrl ")]
    return {"username": user[1], "password": pw[1], "ctrl": ctrl, "stdout": text}


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
    ctrl = printed["ctrl"]
    expected = device_commands(load_acl(ACL_FILE), DEVICE, str(printed["password"]))
    assert ctrl == shell_lines(expected)
    # What the pattern rules grant, with the device id, and nothing else; no $share.
    grants = {(c.argv[2], c.argv[3]) for c in expected if c.argv[0] == "addRoleACL"}
    for g in _pattern_grants(ACL_FILE.read_text(), DEVICE):
        _, access, topic = g.split()
        if access in ("read", "readwrite"):
            assert ("subscribePattern", topic) in grants and (
                "publishClientReceive",
                topic,
            ) in grants
        if access in ("write", "readwrite"):
            assert ("publishClientSend", topic) in grants
    assert not any("$share" in t for _, t in grants)
    assert f"mosquitto_ctrl dynsec createClient {DEVICE} -c {DEVICE} -p " in str(printed["stdout"])


@pytest.mark.broker
def test_printed_credentials_log_in_and_publish_under_the_shipped_acl(
    tmp_path: Path, make_broker
) -> None:
    printed = _device_add(tmp_path)
    user, password = str(printed["username"]), str(printed["password"])
    broker = make_broker(passwords={"central": "central-pw"}, dynsec_acl=ACL_FILE.read_text())
    opts = ["-h", broker.host, "-p", str(broker.port), "-u", DYNSEC_ADMIN[0], "-P", DYNSEC_ADMIN[1]]
    for line in printed["ctrl"]:  # as a deployer runs them
        argv = shlex.split(line)
        r = subprocess.run([argv[0], *opts, *argv[1:]], capture_output=True, text=True)
        assert r.returncode == 0 and "Error" not in r.stdout, (line, r.stdout, r.stderr)
    # The login is bound to client id = device id: any other id is refused.
    other = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="c", protocol=mqtt.MQTTv5)
    other.username_pw_set(user, password)
    refused = []
    other.on_connect = lambda _c, _u, _f, rc, _p: refused.append(rc.is_failure)
    other.connect(broker.host, broker.port)
    other.loop_start()
    wait_until(lambda: bool(refused), 10, "a CONNACK")
    other.loop_stop()
    assert refused == [True]
    got: list[str] = []
    subscribed = threading.Event()
    central = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="c", protocol=mqtt.MQTTv5)
    central.username_pw_set("central", "central-pw")
    central.on_message = lambda _c, _u, m: got.append(m.topic)
    central.on_subscribe = lambda *_a: subscribed.set()
    central.connect(broker.host, broker.port)
    central.subscribe([(wire.VIOLATION_WILDCARD, 1), (wire.SNAPSHOT_WILDCARD, 1)])
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
        # Camera snapshots (issue 17) likewise: its own only.
        dev.publish(wire.snapshot_topic("gw-other"), b"x", qos=1).wait_for_publish(10)
        dev.publish(wire.snapshot_topic(DEVICE), b"x", qos=1).wait_for_publish(10)
        wait_until(lambda: len(got) > 1, 10, f"central to receive {DEVICE}'s snapshot")
        assert got == [wire.violation_topic(DEVICE), wire.snapshot_topic(DEVICE)]
    finally:
        dev.loop_stop()
        dev.disconnect()
        central.loop_stop()
        central.disconnect()
