"""End-to-end latency on loopback: a violation emitted by the edge pipeline → the row
committed at central, excluding the face stage (faces disabled on the camera).

Real parts: the edge Gateway (signing, SQLite outbox with fsync, MqttLink), a mosquitto
started here (tests/services.py), central's IngestWorker storing into SQLite (or
a throwaway PostgreSQL database with ``--postgres``). Two measurements:

- ``scene``: the real pipeline on sample_media/scenes/vtest_road inside a running
  Gateway; each violation is timed from the moment the camera worker hands it to the
  gateway (the pipeline has emitted it) until central's ack, which central publishes
  only after the DB commit (few samples: the clip has four violations);
- ``replay``: those same pipeline-made events (their real evidence JPEGs, re-signed with
  new ids) handed to the same gateway sink at ``--rate`` per second, ``--events`` times,
  for percentiles. ``to_row`` uses the row's ``received`` time (set in the storing
  transaction), ``to_ack`` the ack's arrival (after the commit).

Baseline measured in the same run, interleaved with the replay: raw MQTT QoS 1 publish →
receive of a payload of the same size through the same broker (no signing, outbox or DB).
Ratios are p99 / baseline p99.
Target of issue 5: p99 ≤ 300 ms.

    .venv/bin/python bench/bench_end_to_end.py [--events 200] [--rate 20] [--tls] [--postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repo (tests.*) importable
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt
import sqlalchemy as sa

from central.store.models import Event
from edge.gateway import Gateway
from edge.gateway_config import load_gateway_config
from jaywatch import wire
from tests.integration.helpers import Central, camera_yaml, gateway_yaml
from tests.services import Broker

DEV = "gw-a"


def pct(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs) * 1000.0
    return {
        "n": len(xs),
        "p50": round(float(np.percentile(a, 50)), 2),
        "p99": round(float(np.percentile(a, 99)), 2),
        "max": round(float(a.max()), 2),
    }


class AckTap:
    """Records when central's ack for each event id passes the broker (central user)."""

    def __init__(self, broker: Broker) -> None:
        self.at: dict[str, float] = {}
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if broker.tls:
            self.c.tls_set(ca_certs=str(broker.cafile))
        self.c.on_message = self._on_message
        self.c.connect(broker.host, broker.port)
        self.c.subscribe(wire.ack_topic(DEV), qos=1)
        self.c.loop_start()
        time.sleep(0.3)

    def _on_message(self, _c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        ack = wire.parse_message(m.payload)
        self.at.setdefault(ack.event_id, time.time())  # type: ignore[attr-defined]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


class RawProbe:
    """The baseline: raw QoS 1 publish → receive of a same-size payload through the same
    broker (no signing, outbox, ingest or DB). Sent interleaved with the replayed events,
    so both see the same machine load."""

    def __init__(self, broker: Broker, payload_bytes: int) -> None:
        self.sent: dict[int, float] = {}
        self.got: dict[int, float] = {}
        self.body = os.urandom(payload_bytes // 2 + 8).hex().encode()[: max(0, payload_bytes - 8)]
        self.clients = []
        for cid in ("base-sub", "base-pub"):
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
            if broker.tls:
                c.tls_set(ca_certs=str(broker.cafile))
            c.connect(broker.host, broker.port)
            c.loop_start()
            self.clients.append(c)
        self.clients[0].on_message = self._on_message
        self.clients[0].subscribe("bench/baseline", qos=1)
        time.sleep(0.3)

    def _on_message(self, _c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        self.got[int(m.payload[:8])] = time.time()

    def send(self) -> None:
        i = len(self.sent)
        self.sent[i] = time.time()
        self.clients[1].publish("bench/baseline", b"%08d" % i + self.body, qos=1)

    def latencies(self) -> list[float]:
        return [self.got[i] - t for i, t in self.sent.items() if i in self.got]

    def close(self) -> None:
        for c in self.clients:
            c.disconnect()
            c.loop_stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument(
        "--postgres",
        action="store_true",
        help="central on a throwaway PostgreSQL database (tests/services.py) instead of SQLite",
    )
    args = ap.parse_args()
    if args.postgres:
        from tests.services import fresh_pg_database, pg_admin_url

        with fresh_pg_database(pg_admin_url()) as url:
            run(args, url)
    else:
        run(args, None)


def run(args: argparse.Namespace, db_url: str | None) -> None:
    key = wire.generate_device_key()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        broker = Broker(workdir=d / "broker", tls=args.tls, extra="set_tcp_nodelay true").start()
        # No ACL here: the ack tap and the baseline clients need no grants.
        central = Central.create(db_url or f"sqlite:///{d}/central.db", d / "c", broker)
        central.register(DEV, key, ["vtest-road"])
        central.start()
        tap = AckTap(broker)
        cam = camera_yaml("vtest_road", d / "cam.yaml", faces={"enabled": False})
        cfg_path = gateway_yaml(d / "gw", DEV, broker, [cam], key)
        gw = Gateway(load_gateway_config(cfg_path))
        emitted: dict[str, float] = {}
        made: list[wire.ViolationEvent] = []
        inner = gw._sink

        def timed_sink(event: wire.ViolationEvent) -> None:
            emitted[event.event_id] = time.time()
            made.append(event)
            inner(event)

        for w in gw.workers:
            w.sink = timed_sink
        try:
            t0 = time.monotonic()
            gw.start()
            while not gw.files_done():
                time.sleep(0.2)
            scene_s = time.monotonic() - t0
            deadline = time.monotonic() + 30
            while gw.outbox.depth() and time.monotonic() < deadline:
                time.sleep(0.05)
            scene = [tap.at[e] - t for e, t in emitted.items() if e in tap.at]

            # Replay the pipeline's own events for percentiles; a baseline message half
            # a period after each.
            payload = len(wire.sign_message(made[0], key).model_dump_json())
            probe = RawProbe(broker, payload)
            replay: dict[str, float] = {}
            period = 1.0 / args.rate
            for i in range(args.events):
                src = made[i % len(made)]
                ev = src.model_copy(update={"event_id": wire.new_event_id(), "signature": None})
                t = time.time()
                replay[ev.event_id] = t
                gw._sink(ev)  # what the camera worker calls: sign + durable put + wake
                time.sleep(max(0.0, period / 2 - (time.time() - t)))
                probe.send()
                time.sleep(max(0.0, period - (time.time() - t)))
            deadline = time.monotonic() + 60
            while gw.outbox.depth() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
            with central.ctx.sessions() as s:
                rows = dict(s.execute(sa.select(Event.event_id, Event.received)).all())
            to_row = [
                rows[e].timestamp() - t
                for e, t in replay.items()
                if isinstance(rows.get(e), datetime)
            ]
            to_ack = [tap.at[e] - t for e, t in replay.items() if e in tap.at]
            base = probe.latencies()
            probe.close()
        finally:
            gw.stop()
            tap.close()
            central.close()
            broker.stop()
    p99_base = pct(base)["p99"]
    out = {
        "what": "pipeline emit -> central row committed (faces excluded), loopback",
        "target_p99_ms": 300,
        "tls": args.tls,
        "db": "postgresql" if db_url else "sqlite",
        "payload_bytes": payload,
        "evidence_images_per_event": len(made[0].evidence),
        "scene": {
            "clip": "vtest_road (400 frames)",
            "wall_s": round(scene_s, 2),
            "violations": len(emitted),
            "emit_to_ack_ms": pct(scene) if scene else None,
        },
        "replay": {
            "events": args.events,
            "rate_per_s": args.rate,
            "stored": len(to_row),
            "emit_to_row_ms": pct(to_row),
            "emit_to_ack_ms": pct(to_ack),
        },
        "baseline_raw_mqtt_qos1_ms": pct(base),
        "ratio_p99_to_baseline": {
            "emit_to_row": round(pct(to_row)["p99"] / p99_base, 1) if p99_base else None,
            "emit_to_ack": round(pct(to_ack)["p99"] / p99_base, 1) if p99_base else None,
        },
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
