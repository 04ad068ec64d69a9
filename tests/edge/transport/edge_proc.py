"""A minimal edge publisher process for kill -9 tests: outbox + MqttLink, nothing else.

Prints ``PUT <event_id>`` after each put has returned (so it is durable) and ``DRAINED``
once the outbox is empty after producing; the parent kills it with SIGKILL mid-stream.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from edge.gateway_config import BrokerConfig
from edge.keys import load_device_key
from edge.outbox import Outbox, RetryPolicy
from edge.transport import MqttLink
from tests.edge.transport.acker import make_event


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--outbox", required=True)
    ap.add_argument("--broker", required=True, help="BrokerConfig as JSON")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--stop", type=int, required=True)
    ap.add_argument("--interval", type=float, default=0.0)
    a = ap.parse_args()
    key = load_device_key(a.key)
    ob = Outbox(Path(a.outbox), retry=RetryPolicy(base_s=1.0, max_s=2.0))
    link = MqttLink(a.device, BrokerConfig.model_validate(json.loads(a.broker)), ob, device_key=key)
    link.start()
    for i in range(a.start, a.stop):
        ob.put_event(make_event(a.device, f"cam{i % 3}", key, i))
        print(f"PUT {i}", flush=True)
        if a.interval:
            time.sleep(a.interval)
    while ob.depth():
        time.sleep(0.05)
    print("DRAINED", flush=True)
    link.stop()
    ob.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
