"""The shipped config/mosquitto/mosquitto.conf really starts mosquitto and enforces
TLS + logins + the ACL through the dynamic-security plugin (only its Debian paths and
the port are substituted; logins made from config/mosquitto/jaywatch.acl)."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from jaywatch.broker_acl import (
    apply_commands,
    device_commands,
    find_dynsec_plugin,
    init_dynsec_file,
    load_acl,
    user_commands,
)
from tests.services import MOSQUITTO, free_port, make_test_ca, wait_port

pytestmark = [pytest.mark.broker, pytest.mark.timeout(30)]
REPO = Path(__file__).resolve().parents[3]


def _client(port: int, ca: Path, user: str, pw: str, got: list) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, pw)
    c.tls_set(ca_certs=str(ca))
    c.on_message = lambda _c, _u, m: got.append(m.topic)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def test_template_config_serves_tls_with_auth_and_acl(tmp_path: Path) -> None:
    port = free_port()
    ca = make_test_ca(tmp_path)
    dynsec = tmp_path / "dynamic-security.json"
    init_dynsec_file(dynsec, "admin", "admin-pw")
    conf = (REPO / "config/mosquitto/mosquitto.conf").read_text()
    for old, new in {
        "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so": str(find_dynsec_plugin()),
        "/var/lib/mosquitto/dynamic-security.json": str(dynsec),
        "/etc/mosquitto/certs/": f"{tmp_path}/",
        "/var/lib/mosquitto/": f"{tmp_path}/",
        "listener 8883": f"listener {port} 127.0.0.1",
        "log_dest syslog": f"log_dest file {tmp_path}/log",
    }.items():
        assert old in conf
        conf = conf.replace(old, new)
    (tmp_path / "mosquitto.conf").write_text(conf + "user root\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(tmp_path / "mosquitto.conf")])
    try:
        wait_port("127.0.0.1", port)
        acl = load_acl(REPO / "config/mosquitto/jaywatch.acl")
        apply_commands(
            user_commands(acl, "central", "c-pw") + device_commands(acl, "gw-1", "g-pw"),
            host="127.0.0.1",
            port=port,
            admin_user="admin",
            admin_password="admin-pw",
            cafile=str(ca),
        )
        central_got: list[str] = []
        sub = threading.Event()
        central = _client(port, ca, "central", "c-pw", central_got)
        central.on_subscribe = lambda *_a: sub.set()
        central.subscribe("jaywatch/v1/+/violation", qos=1)
        assert sub.wait(5)
        gw_got: list[str] = []
        gw = _client(port, ca, "gw-1", "g-pw", gw_got)
        gw.publish("jaywatch/v1/gw-2/violation", b"{}", qos=1).wait_for_publish(5)  # not its own
        gw.publish("jaywatch/v1/gw-1/violation", b"{}", qos=1).wait_for_publish(5)
        for _ in range(250):
            if central_got:
                break
            time.sleep(0.02)
        assert central_got == ["jaywatch/v1/gw-1/violation"]
        for c in (gw, central):
            c.loop_stop()
            c.disconnect()
    finally:
        proc.terminate()
        proc.wait(5)
