"""Benchmark: what the integrity check on every read of evidence costs.

    .venv/bin/python bench/bench_evidence_integrity.py [--events 200] [--repeat 5]

Stores N events through central's real ingest path (classify + store, SQLite), each with
the four images a gateway sends (before/entry/after from sample_media photos at 640x480-ish,
and the face crop), then times per event, in the same run:

- baseline: what a page did before: the evidence rows from the DB and the image bytes
  from the store (no checks);
- checked: ``integrity.verify_event`` (the same reads plus the kept signed message, the
  Ed25519 signature over its canonical JSON, the sha256 of every file and the
  comparison with the signed images) — what every page, API read, download and
  confirmation now runs;
- the per-image check alone (``read_blob``: one file's sha256).

Prints one JSON object; ``checked_vs_baseline`` is the ratio of medians.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from central.evidence.integrity import read_blob, verify_event  # noqa: E402
from central.ingest.classify import Incoming, KeyCache, classify  # noqa: E402
from central.ingest.store import load_device_keys, store_batch  # noqa: E402
from central.store.models import Event, Evidence  # noqa: E402
from jaywatch import wire  # noqa: E402
from tests.central.helpers import add_device, make_context  # noqa: E402
from tests.central.web.world import (  # noqa: E402
    ENTRY_PHOTO,
    FACE_BOX,
    SCENE_PHOTO,
    jpeg_of,
)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-integrity-"))
    ctx = make_context(f"sqlite:///{tmp / 'c.db'}", tmp)
    key = add_device(ctx)

    def keys() -> dict[str, bytes]:
        with ctx.sessions() as s:
            return load_device_keys(s)

    cache = KeyCache(keys)
    sizes = []
    for i in range(args.events):
        q = 60 + i % 35
        imgs = [
            ("before", jpeg_of(SCENE_PHOTO, quality=q)),
            ("entry", jpeg_of(ENTRY_PHOTO, quality=q)),
            ("after", jpeg_of(SCENE_PHOTO, (0, 0, 400, 300), quality=q)),
            ("face", jpeg_of(ENTRY_PHOTO, FACE_BOX, quality=q)),
        ]
        ev = wire.ViolationEvent(
            device_id="gw-1", camera_id="cam-1",
            occurred=datetime.now(UTC) - timedelta(minutes=1), t=1.0, frame=i, track_id=i,
            bbox=(1.0, 2.0, 30.0, 90.0), signal=wire.SignalEvidence(phase="red", red_for_s=3.0),
            zone=[(0.0, 0.0), (100.0, 0.0), (100.0, 50.0)], grace_s=0.5,
            evidence=[
                wire.EvidenceImage(role=r, frame=i, t=1.0, jpeg_b64=base64.b64encode(d).decode())
                for r, d in imgs
            ],
        )  # fmt: skip
        payload = wire.sign_message(ev, key).model_dump_json().encode()
        sizes.append(len(payload))
        c = classify(Incoming(wire.violation_topic("gw-1"), payload), cache, 10**8)
        with ctx.sessions.begin() as s:
            assert store_batch(s, [c], ctx.evidence, 1024)[0].status == "stored"
    with ctx.sessions() as s:
        pks = list(s.execute(sa.select(Event.id)).scalars())

    def baseline(pk: int) -> None:
        with ctx.sessions() as s:
            rows = s.execute(sa.select(Evidence.sha256).where(Evidence.event_pk == pk)).scalars()
            for sha in rows:
                ctx.evidence.get(sha)

    def checked(pk: int) -> None:
        with ctx.sessions() as s:
            assert verify_event(s, ctx.evidence, s.get(Event, pk)).ok

    with ctx.sessions() as s:
        one_sha = s.execute(sa.select(Evidence.sha256).where(Evidence.role == "entry")).scalar()

    def per_image(_pk: int) -> None:
        read_blob(ctx.evidence, one_sha)

    def raw_image(_pk: int) -> None:
        ctx.evidence.get(one_sha)

    def timed(fn) -> list[float]:
        out = []
        for _ in range(args.repeat):
            for pk in pks:
                t0 = time.perf_counter()
                fn(pk)
                out.append((time.perf_counter() - t0) * 1000)
        return out

    res = {}
    for name, fn in (("baseline", baseline), ("checked", checked),
                     ("image_raw", raw_image), ("image_checked", per_image)):  # fmt: skip
        t = sorted(timed(fn))
        res[name] = {
            "p50_ms": round(statistics.median(t), 3),
            "p99_ms": round(t[int(len(t) * 0.99) - 1], 3),
        }
    res["checked_vs_baseline"] = round(res["checked"]["p50_ms"] / res["baseline"]["p50_ms"], 2)
    res["image_checked_vs_raw"] = round(
        res["image_checked"]["p50_ms"] / res["image_raw"]["p50_ms"], 2
    )
    res["events"] = args.events
    res["message_bytes_median"] = int(statistics.median(sizes))
    ctx.close()
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
