"""Benchmark: events/s stored by central ingest from a real mosquitto into SQLite and
into PostgreSQL with 1 and 2 ingest workers, next to the raw broker throughput (same
payloads, same machine, same run).

    .venv/bin/python bench/bench_central_ingest.py [--events 5000] [--images 1] [--workers 1 2]

Prints one JSON object on stdout (progress on stderr). Each run: an edge-side publisher
sends N signed violation events (QoS 1) and the clock stops when the last application ack
(sent by a worker after its DB commit) arrives. The raw baseline is the same publisher to
a plain QoS 1 subscriber; it is measured right before every central run, and each run's
``vs_raw`` is against that adjacent baseline (the machine is shared, its load drifts).

Workers are separate processes (multiprocessing, spawn), one IngestWorker each, all in
the same ``$share`` group with distinct client ids: that is how a deployment runs several
(docs/scaling.md: one ``serve --no-api`` process per extra worker), and processes do not
share one GIL, so a second worker can really add CPU. SQLite stays at 1 worker (a single
writer). Every run also checks that it stored right: the stored event ids are exactly the
sent ones (rows = distinct = N), no dead letters, no rejections; the script exits 1 if not.
The workers' sessions expire on disconnect (session_expiry_s=0): an offline persistent
session left in the group by an earlier run would otherwise be handed a share of the stream.
PostgreSQL: $JAYWATCH_TEST_PG_URL or postgres@127.0.0.1:5432 (a fresh database per run).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from central.config import CentralConfig, IngestSettings, MqttSettings  # noqa: E402
from central.context import Context  # noqa: E402
from central.ingest.consumer import IngestWorker  # noqa: E402
from central.store.models import DeadLetter, Event  # noqa: E402
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
    """Messages/s from the same publisher to a plain QoS 1 subscriber (no storage)."""
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
    # Not on the violation topics: central's $share group would get them too.
    raw = [(f"bench/raw/{i % 8}", p) for i, (_t, p) in enumerate(msgs)]
    try:
        return n / publish_and_wait(pub, raw, done)
    finally:
        for c in (pub, sub):
            c.disconnect()
            c.loop_stop()


def worker_process(
    cfg: CentralConfig,
    client_id: str,
    ready: mp.synchronize.Event,
    stop: mp.synchronize.Event,
    results: mp.Queue,
) -> None:
    """One ingest worker in its own process, as ``serve --no-api`` runs it; puts its
    outcome counts on ``results`` when ``stop`` is set."""
    ctx = Context.from_config(cfg)  # the parent migrated already: a no-op here
    worker = IngestWorker(cfg.mqtt, cfg.ingest, ctx.sessions, ctx.evidence, client_id=client_id)
    worker.start()
    ready.set()
    stop.wait()
    worker.stop()
    ctx.close()
    results.put((client_id, dict(worker.counts)))


def check_stored_once(ctx: Context, sent: set[str], counts: dict[str, int]) -> dict:
    """What the database holds after the run: every sent event exactly once, nothing
    dead-lettered or rejected."""
    with ctx.sessions() as s:
        rows = s.scalar(sa.select(sa.func.count()).select_from(Event))
        distinct = s.scalar(sa.select(sa.func.count(sa.distinct(Event.event_id))))
        ids = set(s.scalars(sa.select(Event.event_id)))
        dead = s.scalar(sa.select(sa.func.count()).select_from(DeadLetter))
    ok = (
        rows == distinct == len(sent)
        and ids == sent
        and dead == 0
        and counts.get("stored", 0) == len(sent)
        and counts.get("rejected", 0) == 0
    )
    return {
        "ok": ok,
        "rows": rows,
        "distinct_event_ids": distinct,
        "missing": len(sent - ids),
        "unexpected": len(ids - sent),
        "dead_letters": dead,
    }


def central(
    broker: Broker,
    db_url: str,
    n: int,
    images: int,
    batch_max: int,
    workers: int,
    workdir: Path,
    label: str,
) -> tuple[dict, list[tuple[str, bytes]]]:
    """Stored events/s with ``workers`` worker processes, plus the stored-once check."""
    cfg = CentralConfig(
        database_url=db_url,
        evidence_dir=str(workdir / "evidence"),
        fines_file=str(REPO / "config" / "fines.yaml"),
        mqtt=MqttSettings(host=broker.host, port=broker.port, session_expiry_s=0),
        ingest=IngestSettings(batch_max=batch_max),
    )
    ctx = Context.from_config(cfg)
    key = add_device(ctx, "gw-1")
    events = [violation(key, images=images) for _ in range(n)]
    msgs = [(wire.violation_topic("gw-1"), e.model_dump_json().encode()) for e in events]
    acks, done = [0], threading.Event()
    bar = tqdm(total=n, desc=label, unit="ev", file=sys.stderr, leave=False)
    edge = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-edge", protocol=mqtt.MQTTv5)
    edge.max_inflight_messages_set(1000)

    def on_ack(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        if b'"stored"' not in m.payload:  # count only events really stored
            return
        acks[0] += 1
        bar.update()
        if acks[0] >= n:
            done.set()

    edge.on_message = on_ack
    edge.connect(broker.host, broker.port)
    edge.subscribe(wire.ack_topic("gw-1"), qos=1)
    edge.loop_start()
    spawn = mp.get_context("spawn")  # no fork of a process with paho/SQLAlchemy threads
    stop, results = spawn.Event(), spawn.Queue()
    procs, readies = [], []
    for i in range(workers):
        ready = spawn.Event()
        p = spawn.Process(
            target=worker_process,
            args=(cfg, f"bench-{label}-{i + 1}", ready, stop, results),
            daemon=True,
        )
        p.start()
        procs.append(p)
        readies.append(ready)
    try:
        for r in readies:
            if not r.wait(120):
                raise TimeoutError("an ingest worker did not start within 120 s")
        time.sleep(0.5)  # connected is set before the SUBACK arrives
        bar.reset()  # the clock of the bar starts with the publishing, as ours does
        secs = publish_and_wait(edge, msgs, done)
    finally:
        stop.set()
        counts: dict[str, int] = {}
        per_worker = {}
        for _ in procs:
            cid, c = results.get(timeout=60)
            per_worker[cid] = c.get("stored", 0)
            for k, v in c.items():
                counts[k] = counts.get(k, 0) + v
        for p in procs:
            p.join(30)
        bar.close()
        edge.disconnect()
        edge.loop_stop()
    check = check_stored_once(ctx, {e.event_id for e in events}, counts)
    ctx.close()
    return {
        "workers": workers,
        "events_per_s": round(n / secs, 1),
        "seconds": round(secs, 2),
        "counts": counts,
        "stored_per_worker": per_worker,
        "stored_once": check,
    }, msgs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--images", type=int, default=1, help="evidence JPEGs per event")
    ap.add_argument("--batch-max", type=int, default=200)
    ap.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="PostgreSQL worker counts"
    )
    args = ap.parse_args()
    n, img, bm = args.events, args.images, args.batch_max
    load_before = os.getloadavg()
    runs: dict[str, dict] = {}
    # The raw runs send a real signed event's bytes (the device key is irrelevant there).
    payload = violation(wire.generate_device_key(), images=img).model_dump_json().encode()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        broker = Broker(workdir=t / "broker").start()
        try:
            plan = [("sqlite", 1)] + [("postgresql", w) for w in args.workers]
            for db, w in plan:
                label = f"{db}-{w}w"
                log(f"raw broker (before {label})")
                raw = raw_broker(broker, [("x", payload)] * n)
                log(f"central → {label}")
                if db == "sqlite":
                    res, _ = central(
                        broker, f"sqlite:///{t / 'bench.db'}", n, img, bm, 1, t / label, label
                    )
                else:
                    with fresh_pg_database(pg_admin_url()) as pg:
                        res, _ = central(broker, pg, n, img, bm, w, t / label, label)
                res["raw_broker_msgs_per_s"] = round(raw, 1)
                res["vs_raw"] = round(res["events_per_s"] / raw, 3)
                res["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
                runs[label] = res
                log(f"{label}: {res['events_per_s']} ev/s, raw {raw:.0f}, {res['vs_raw']}×")
        finally:
            broker.stop()
    pg = {k: v for k, v in runs.items() if k.startswith("postgresql")}
    out = {
        "events": n,
        "payload_bytes": len(payload),
        "images_per_event": img,
        "batch_max": bm,
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "runs": runs,
        "postgresql_vs_raw_by_workers": {v["workers"]: v["vs_raw"] for v in pg.values()},
        "postgresql_events_per_s_by_workers": {
            v["workers"]: v["events_per_s"] for v in pg.values()
        },
        "all_stored_exactly_once": all(r["stored_once"]["ok"] for r in runs.values()),
    }
    print(json.dumps(out, indent=2))
    return 0 if out["all_stored_exactly_once"] else 1


if __name__ == "__main__":
    sys.exit(main())
