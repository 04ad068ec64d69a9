"""CPU cost of the model-output sanitizer (edge/detectors/sanitize.py) on the hot path.

Same run, interleaved: the shipped SSD's ``detect()`` and a YOLO-layout graph's
``detect()`` (tests/edge/detectors/yolo_graphs.py: a real raw v5 head at 640, 25200
candidates decoded, filtered, NMS'd) on real street frames, with the sanitizer as
shipped ("on") and replaced by the plain clip to the frame it took over from ("off").
Reports CPU ms per frame (process time, one intra-op thread), the difference, and the
sanitizer alone on 20 and 3000 candidate rows. Prints JSON with the load average.

    .venv/bin/python bench/bench_sanitize.py [--frames N] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_detector import load_frames  # noqa: E402
from edge.config import DetectorConfig  # noqa: E402
from edge.detectors import create_detector  # noqa: E402
from edge.detectors.sanitize import BoxSanitizer  # noqa: E402


class _ClipOnly:
    """What the plugins did before the sanitizer: clip to the frame, nothing dropped."""

    def clean(self, xyxy, scores, class_ids, width, height):
        limit = np.array([width, height, width, height], np.float32)
        return np.clip(np.asarray(xyxy, np.float32), 0, limit), scores, class_ids


def cpu_ms(fn, frames: list[np.ndarray]) -> float:
    t = time.process_time()
    for f in frames:
        fn(f)
    return 1000 * (time.process_time() - t) / len(frames)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    frames, where = load_frames(args.frames)
    from tests.edge.detectors.yolo_graphs import bright_box_yolo

    tmp = Path(tempfile.mkdtemp())
    detectors = {
        "ssd_shipped": create_detector(DetectorConfig(), threads=1),
        "yolov5_raw_640": create_detector(
            DetectorConfig(
                model=str(bright_box_yolo(tmp / "v5.onnx", "yolov5", 640)), layout="yolov5"
            ),
            threads=1,
        ),
    }
    out: dict = {"frames": len(frames), "from": where, "load_avg_before": os.getloadavg()[0]}
    for name, det in detectors.items():
        real = det.sanitizer
        runs: dict[str, list[float]] = {"on": [], "off": []}
        for _ in range(args.repeats):  # interleaved so a burst of other load hits both
            for mode in ("off", "on"):
                det.sanitizer = real if mode == "on" else _ClipOnly()
                runs[mode].append(cpu_ms(det.detect, frames))
        det.sanitizer = real
        on, off = min(runs["on"]), min(runs["off"])
        out[name] = {
            "cpu_ms_per_frame_sanitizer_on": round(on, 3),
            "cpu_ms_per_frame_clip_only": round(off, 3),
            "difference_ms": round(on - off, 3),
            "ratio_on_over_off": round(on / off, 4),
        }
    rng = np.random.default_rng(0)
    for n in (20, 3000):
        xyxy = rng.uniform(0, 600, (n, 4)).astype(np.float32)
        xyxy[:, 2:] = xyxy[:, :2] + 30
        scores = rng.uniform(0.5, 1, n).astype(np.float32)
        ids = np.zeros(n, np.int32)
        s = BoxSanitizer("bench")
        t = time.process_time()
        for _ in range(2000):
            s.clean(xyxy, scores, ids, 1280, 720)
        out[f"sanitizer_alone_{n}_rows_us"] = round(1e6 * (time.process_time() - t) / 2000, 1)
    out["load_avg_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
