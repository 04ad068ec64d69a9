"""Edge delivery speed on loopback: durable put, put → stored at central, backlog drain.

Runs a real mosquitto (tests/services.py) and the central stand-in acker (verify, store
once, ack). Prints JSON:
- ``put_ms``: p50/p99 of ``Outbox.put_event`` (SQLite WAL commit with fsync), event with
  one evidence JPEG of ``--jpeg-kb`` KB;
- ``put_to_stored_ms``: p50/p99 from the start of ``put_event`` to central having stored the
  event, at ``--rate`` events/s (the delivery share of the issue's frame → row latency);
- ``drain_500``: seconds to drain a 500-event backlog with a window of 1 (the baseline,
  strict order) and of 64 per camera, and their ratio.

    .venv/bin/python bench/bench_delivery.py [--events 200] [--rate 20] [--tls]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repo (tests.*) importable
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.outbox import Outbox, RetryPolicy
from edge.transport import MqttLink
from jaywatch.wire import generate_device_key, public_key_bytes
from tests.edge.transport.acker import Acker, broker_config, make_event, wait_until
from tests.services import Broker

DEV = "gw-bench"


def pct(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs) * 1000.0
    return {
        "p50": round(float(np.percentile(a, 50)), 2),
        "p99": round(float(np.percentile(a, 99)), 2),
    }


def drain_seconds(broker: Broker, d: Path, key, jpeg: bytes, window: int, n: int) -> float:
    with Outbox(d / f"drain{window}.sqlite", retry=RetryPolicy(base_s=30)) as ob:
        events = [
            make_event(DEV, f"cam{i % 4}", key, 10_000 * window + i, jpeg=jpeg) for i in range(n)
        ]
        for ev in events:
            ob.put_event(ev)
        link = MqttLink(DEV, broker_config(broker), ob, device_key=key, window_per_camera=window)
        t0 = time.monotonic()
        link.start()
        wait_until(lambda: ob.depth() == 0, 300, "drain")
        dt = time.monotonic() - t0
        link.stop()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--jpeg-kb", type=int, default=60)
    ap.add_argument("--tls", action="store_true")
    args = ap.parse_args()
    key = generate_device_key()
    jpeg = os.urandom(args.jpeg_kb * 1024)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        broker = Broker(workdir=d / "broker", tls=args.tls, extra="set_tcp_nodelay true").start()
        acker = Acker(broker.host, broker.port, {DEV: public_key_bytes(key)}, cafile=broker.cafile)
        acker.start()
        try:
            put_s: list[float] = []
            started: dict[str, float] = {}
            with Outbox(d / "live.sqlite") as ob:
                link = MqttLink(DEV, broker_config(broker), ob, device_key=key)
                link.start()
                link.wait_connected(10)
                for i in range(args.events):
                    ev = make_event(DEV, f"cam{i % 4}", key, i, jpeg=jpeg)
                    t0 = time.monotonic()
                    ob.put_event(ev)
                    put_s.append(time.monotonic() - t0)
                    started[ev.event_id] = t0
                    time.sleep(max(0.0, 1.0 / args.rate - (time.monotonic() - t0)))
                wait_until(lambda: ob.depth() == 0, 60, "live drain")
                link.stop()
            e2e = [acker.stored_at[e] - t for e, t in started.items()]
            base = drain_seconds(broker, d, key, jpeg, 1, 500)
            wide = drain_seconds(broker, d, key, jpeg, 64, 500)
        finally:
            acker.stop()
            broker.stop()
    print(
        json.dumps(
            {
                "events": args.events,
                "rate_per_s": args.rate,
                "payload_bytes": len(make_event(DEV, "cam0", key, 0, jpeg=jpeg).model_dump_json()),
                "tls": args.tls,
                "put_ms": pct(put_s),
                "put_to_stored_ms": pct(e2e),
                "drain_500": {
                    "window_1_s": round(base, 3),
                    "window_64_s": round(wide, 3),
                    "speedup_vs_window_1": round(base / wide, 2),
                },
                "cpu_count": os.cpu_count(),
                "machine": platform.machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
