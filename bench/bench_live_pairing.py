"""Benchmark: how many live main frames find their sub frame, with and without the
pairer's wait (``SubStreamPairer``, edge/av_capture.py), and what the wait adds per frame.

The camera is tests/live_pair.py: vtest_road in real time at 10 fps, one clock encoding a
1280x720 main and a 640x360 sub stream (MPEG-TS over TCP on loopback). The gateway side is
``AvSource`` as ``edge run`` opens it (``detect_stream.source``, ``max_skew_s`` 0.05,
analysis at 10 fps); the consumer stands in for the pipeline with ``--work-ms`` of sleep
per frame. Rounds alternate wait off (the old pairing: whatever sub frame is there) and on,
so both see the same machine load.

Per mode: main frames, paired fraction (frames after each open's first second: the
demuxer's backlog is never paired), the pairer's wait per frame (mean, and the max), and
the frame's age when the consumer got it (arrival → yield; median, p95).

    .venv/bin/python bench/bench_live_pairing.py [--seconds 12] [--rounds 2] [--work-ms 30]

Prints one JSON object on stdout (progress on stderr), with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.av_capture import AvSource  # noqa: E402
from tests.live_pair import LivePair  # noqa: E402

VIDEO = REPO / "sample_media" / "scenes" / "vtest_road" / "video.mp4"


def one(wait: bool, seconds: float, work_s: float) -> dict[str, Any]:
    pair = LivePair(VIDEO, end_s=seconds)
    src = AvSource(
        pair.main.url,
        detect_source=pair.sub.url,
        max_skew_s=0.05,
        analysis_fps=10,
        pair_wait=wait,
        max_backoff_s=1,
    )
    ages: list[float] = []
    frames = 0

    def start_when_connected() -> None:
        while pair.main.connections < 1 or pair.sub.connections < 1:
            time.sleep(0.01)
        pair.start()
        pair.done.wait()
        time.sleep(0.5)
        src.stop()

    threading.Thread(target=start_when_connected, daemon=True).start()
    for f in src:
        ages.append(src.clock.now() - f.t)
        frames += 1
        time.sleep(work_s)
    pair.stop()
    p = src.pairer
    asked = p.paired + p.unpaired
    ages.sort()
    return {
        "wait": wait,
        "frames": frames,
        "pair_calls": asked,
        "paired": p.paired,
        "paired_fraction": round(p.paired / asked, 3) if asked else None,
        "waits": p.waited,
        "wait_ms_per_frame": round(1000 * p.waited_s / asked, 2) if asked else None,
        "age_ms_median": round(1000 * statistics.median(ages), 1) if ages else None,
        "age_ms_p95": round(1000 * ages[int(0.95 * (len(ages) - 1))], 1) if ages else None,
        "camera_worst_pacing_ms": round(1000 * pair.worst_pacing_s(), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--work-ms", type=float, default=30.0)
    a = ap.parse_args()
    load0 = os.getloadavg()
    runs = []
    for r in range(a.rounds):
        for wait in (False, True):
            res = one(wait, a.seconds, a.work_ms / 1000)
            print(f"round {r + 1} wait={wait}: {res}", file=sys.stderr)
            runs.append(res)

    def summary(wait: bool) -> dict[str, Any]:
        mine = [x for x in runs if x["wait"] is wait]
        calls = sum(x["pair_calls"] for x in mine)
        return {
            "paired_fraction": round(sum(x["paired"] for x in mine) / calls, 3) if calls else None,
            "wait_ms_per_frame": round(
                statistics.mean(x["wait_ms_per_frame"] or 0 for x in mine), 2
            ),
            "age_ms_median": round(statistics.median(x["age_ms_median"] or 0 for x in mine), 1),
            "age_ms_p95": max(x["age_ms_p95"] or 0 for x in mine),
        }

    print(
        json.dumps(
            {
                "bench": "live_pairing",
                "seconds": a.seconds,
                "rounds": a.rounds,
                "work_ms": a.work_ms,
                "max_skew_s": 0.05,
                "load_start": [round(x, 2) for x in load0],
                "load_end": [round(x, 2) for x in os.getloadavg()],
                "before_no_wait": summary(False),
                "after_wait": summary(True),
                "runs": runs,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
