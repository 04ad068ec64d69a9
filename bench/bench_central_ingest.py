"""Benchmark: events/s stored by central ingest from a real mosquitto into SQLite and
into PostgreSQL, next to the raw broker throughput (same payloads, same machine, same run).

    .venv/bin/python bench/bench_central_ingest.py [--events 5000] [--images 1]

Prints one JSON object. Each run: an edge-side publisher sends N signed violation events
(QoS 1) and the clock stops when the last application ack (sent after the DB commit)
arrives. The raw baseline is the same publisher to a plain QoS 1 subscriber.
PostgreSQL: $JAYWATCH_TEST_PG_URL or postgres@127.0.0.1:5432 (a fresh database).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from central.config import CentralConfig, IngestSettings, MqttSettings  # noqa: E402
from central.context import Context  # noqa: E402
from central.ingest.consumer import IngestWorker  # noqa: E402
from jaywatch import wire  # noqa: E402
from tests.central.helpers import add_device, violation  # noqa: E402
from tests.services import Broker, fresh_pg_database, pg_admin_url  # noqa: E402


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def client(broker: Broker, cid: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(1000)
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


def publish_and_wait(
    pub: mqtt.Client, msgs: list[tuple[str, bytes]], done: threading.Event
) -> float:
    t0 = time.perf_counter()
    for topic, payload in msgs:
        pub.publish(topic, payload, qos=1)
    if not done.wait(600):
        raise TimeoutError("not everything arrived within 600 s")
    return time.perf_counter() - t0


def raw_broker(broker: Broker, msgs: list[tuple[str, bytes]]) -> float:
    n, got, done = len(msgs), [0], threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="raw-sub", protocol=mqtt.MQTTv5)

    def on_message(*_a: object) -> None:
        got[0] += 1
        if got[0] >= n:
            done.set()

    sub.on_message = on_message
    sub.connect(broker.host, broker.port)
    sub.subscribe("bench/raw/#", qos=1)
    sub.loop_start()
    time.sleep(0.3)
    pub = client(broker, "raw-pub")
    # Not on the violation topics: central's offline $share session would queue them.
    raw = [(f"bench/raw/{i % 8}", p) for i, (_t, p) in enumerate(msgs)]
    try:
        return n / publish_and_wait(pub, raw, done)
    finally:
        for c in (pub, sub):
            c.disconnect()
            c.loop_stop()


def central(
    broker: Broker, db_url: str, n: int, images: int, batch_max: int, workdir: Path
) -> dict:
    cfg = CentralConfig(
        database_url=db_url,
        evidence_dir=str(workdir / "evidence"),
        fines_file=str(REPO / "config" / "fines.yaml"),
    )
    ctx = Context.from_config(cfg)
    key = add_device(ctx, "gw-1")
    msgs = [
        (wire.violation_topic("gw-1"), violation(key, images=images).model_dump_json().encode())
        for _ in range(n)
    ]
    acks, done = [0], threading.Event()
    edge = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-edge", protocol=mqtt.MQTTv5)
    edge.max_inflight_messages_set(1000)

    def on_ack(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        if b'"stored"' not in m.payload:  # count only events really stored
            return
        acks[0] += 1
        if acks[0] >= n:
            done.set()

    edge.on_message = on_ack
    edge.connect(broker.host, broker.port)
    edge.subscribe(wire.ack_topic("gw-1"), qos=1)
    edge.loop_start()
    worker = IngestWorker(
        # One client id for both runs: mosquitto keeps giving a share of the stream to
        # an offline persistent session of the same $share group.
        MqttSettings(host=broker.host, port=broker.port, client_id="bench-central"),
        IngestSettings(batch_max=batch_max),
        ctx.sessions,
        ctx.evidence,
    ).start()
    time.sleep(0.3)
    try:
        secs = publish_and_wait(edge, msgs, done)
    finally:
        worker.stop()
        edge.disconnect()
        edge.loop_stop()
        ctx.close()
    return {
        "events_per_s": round(n / secs, 1),
        "seconds": round(secs, 2),
        "counts": dict(worker.counts),
    }, msgs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--images", type=int, default=1, help="evidence JPEGs per event")
    ap.add_argument("--batch-max", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        broker = Broker(workdir=t / "broker").start()
        try:
            log("central → SQLite")
            res_sqlite, msgs = central(
                broker,
                f"sqlite:///{t / 'bench.db'}",
                args.events,
                args.images,
                args.batch_max,
                t / "s",
            )
            log("raw broker")
            raw = raw_broker(broker, msgs)
            log("central → PostgreSQL")
            with fresh_pg_database(pg_admin_url()) as pg:
                res_pg, _ = central(broker, pg, args.events, args.images, args.batch_max, t / "p")
        finally:
            broker.stop()
    out = {
        "events": args.events,
        "payload_bytes": len(msgs[0][1]),
        "images_per_event": args.images,
        "batch_max": args.batch_max,
        "cpus": os.cpu_count(),
        "raw_broker_msgs_per_s": round(raw, 1),
        "sqlite": res_sqlite,
        "postgresql": res_pg,
        "sqlite_vs_raw": round(res_sqlite["events_per_s"] / raw, 3),
        "postgresql_vs_raw": round(res_pg["events_per_s"] / raw, 3),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
