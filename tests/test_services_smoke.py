"""The test infrastructure itself: a real broker delivers, a real PostgreSQL answers."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import sqlalchemy as sa

from tests.services import Broker


def test_broker_delivers_qos1_with_auth_and_tls(make_broker) -> None:
    b: Broker = make_broker(passwords={"u": "p"}, tls=True)
    got = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.username_pw_set("u", "p")
    c.tls_set(ca_certs=str(b.cafile))
    c.on_message = lambda *_a: got.set()
    c.connect(b.host, b.port)
    c.loop_start()
    c.subscribe("t/#", qos=1)
    c.publish("t/x", b"hello", qos=1).wait_for_publish(5)
    assert got.wait(5)
    c.loop_stop()
    c.disconnect()


def test_postgres_and_sqlite_answer(db_url: str) -> None:
    eng = sa.create_engine(db_url)
    with eng.connect() as c:
        assert c.execute(sa.text("select 1 + 1")).scalar() == 2
    eng.dispose()
