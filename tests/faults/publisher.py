"""A real edge publisher process for the fault tests: the gateway's durable Outbox, its
MqttLink and its HealthReporter, fed with synthetic signed ViolationEvents (a small real
JPEG each; every ``match_every``-th one matched to an enrolled person).

Prints ``PUT <i>`` after each put returned (the event is durable) and ``DRAINED`` once
the outbox is empty; the test kills it with SIGKILL mid-stream and starts it again with
``--start`` = the first index it did not see printed.
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from edge.gateway_config import BrokerConfig
from edge.health import HealthReporter
from edge.keys import load_device_key
from edge.outbox import Outbox, RetryPolicy
from edge.transport import MqttLink
from jaywatch import wire

EVENT_NS = uuid.UUID("0d5b7c1e-3f0a-4a8e-b1a4-5c6d7e8f9a0b")
PERSON = "p-fault"


def event_id(device_id: str, i: int) -> str:
    """Deterministic ids: the test knows every id the stream may contain."""
    return str(uuid.uuid5(EVENT_NS, f"{device_id}/{i}"))


def is_matched(i: int, match_every: int) -> bool:
    return match_every > 0 and i % match_every == 0


def _jpeg(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (24, 24), (i % 256, (i * 7) % 256, 90)).save(buf, "JPEG", quality=70)
    return buf.getvalue()


def make_event(
    device_id: str, key: Ed25519PrivateKey, i: int, match_every: int
) -> wire.ViolationEvent:
    ev = wire.ViolationEvent(
        device_id=device_id,
        event_id=event_id(device_id, i),
        camera_id=f"cam{i % 3}",
        occurred=datetime.now(UTC),
        t=float(i),
        frame=i,
        track_id=i % 97,
        bbox=(4.0, 2.0, 20.0, 22.0),  # inside the 24x24 evidence image
        signal=wire.SignalEvidence(phase="red", red_for_s=4.5, roi=(0, 0, 10, 20)),
        zone=[(0.0, 100.0), (640.0, 100.0), (640.0, 480.0)],
        grace_s=0.5,
        evidence=[
            wire.EvidenceImage(
                role="entry", frame=i, t=float(i), jpeg_b64=base64.b64encode(_jpeg(i)).decode()
            )
        ],
        match=wire.MatchResult(person_id=PERSON, score=0.8, backend="sface")
        if is_matched(i, match_every)
        else None,
    )
    return wire.sign_message(ev, key)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--outbox", required=True)
    ap.add_argument("--broker", required=True, help="BrokerConfig as JSON")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--stop", type=int, required=True)
    ap.add_argument("--interval", type=float, default=0.0, help="seconds between puts")
    ap.add_argument("--match-every", type=int, default=0)
    ap.add_argument("--min-free-bytes", type=int, default=0)
    ap.add_argument("--health-s", type=float, default=1.0)
    ap.add_argument("--linger", type=float, default=0.0, help="stay up this long after draining")
    a = ap.parse_args()
    key = load_device_key(a.key)
    ob = Outbox(
        Path(a.outbox),
        retry=RetryPolicy(base_s=1.0, max_s=2.0),
        min_free_bytes=a.min_free_bytes,
    )
    link = MqttLink(a.device, BrokerConfig.model_validate_json(a.broker), ob, device_key=key)
    health = HealthReporter(a.device, ob, link.publish_status, interval_s=a.health_s)
    link.add_connect_listener(health.trigger)
    link.start()
    health.start()
    for i in range(a.start, a.stop):
        ob.put_event(make_event(a.device, key, i, a.match_every))
        print(f"PUT {i}", flush=True)
        if a.interval:
            time.sleep(a.interval)
    while ob.depth():
        time.sleep(0.05)
    print("DRAINED", flush=True)
    health.report_now()
    time.sleep(a.linger)
    health.stop()
    link.stop()
    ob.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
