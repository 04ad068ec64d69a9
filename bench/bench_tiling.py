"""Small pedestrians at 1080p: detection recall per size band and cost, tiled vs not.

For each 1080p sample scene (sample_media/scenes/hd_crossing*), every ``--step``-th frame
is decoded once and given to the detector as the scene's camera.yaml places it, twice:
with ``detector.tiling`` off (the region squeezed whole into the detector: the baseline,
measured in the same run) and as configured (tiled). Recall is per-frame detection recall
of the drawn people in boxes.json (whole, at most half covered by nearer people; IoU ≥
0.5) per height band, counting people whose feet are within a body height of the zone's
rows (the people the rule must see; far-off people on the car park are not its concern);
"unmatched" counts detections matching nobody (partly false positives, partly boxes of
people not counted). Time is the mean
``detect()`` call; the ratio tiled/untiled is what to compare across machines.

``--model`` swaps the scene's ``detector.model`` (e.g. ``pedestrian_ssdlite_mnv2_int8``)
with everything else unchanged, to compare detectors' recall on the same frames; given
more than once, each model runs on each scene in the same run (``cpu_ms_per_frame`` is
the process CPU time of the ``detect()`` calls, steadier than wall time on a shared
machine).

    .venv/bin/python bench/bench_tiling.py [--step 2] [--scenes hd_crossing hd_crossing_dusk]
        [--model NAME [--model NAME2]]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
from tqdm import tqdm

from edge.config import load_camera_config
from edge.detectors import create_detector
from edge.detectors.region import wrap_for_region
from edge.evaluation import detection_recall_by_size

REPO = Path(__file__).resolve().parents[1]


def run(scene: Path, step: int, model: str | None = None) -> dict:
    if not (scene / "video.mp4").is_file():  # the dusk video is derived on demand
        gen = REPO / "sample_media" / "make_hd_scene.py"
        subprocess.run([sys.executable, str(gen), "--dusk-only"], check=True, cwd=REPO)
    gt = json.loads((scene / "ground_truth.json").read_text())
    truth = json.loads((scene / "boxes.json").read_text())["frames"]
    cfg = load_camera_config(scene / "camera.yaml")
    if model is not None:
        cfg = cfg.model_copy(update={"detector": cfg.detector.model_copy(update={"model": model})})
    off = cfg.detector.model_copy(
        update={"tiling": cfg.detector.tiling.model_copy(update={"mode": "off"})}
    )
    setups = {
        "untiled": wrap_for_region(create_detector(off), off, cfg.crossing.zone),
        "tiled": wrap_for_region(create_detector(cfg.detector), cfg.detector, cfg.crossing.zone),
    }
    dets: dict[str, list] = {k: [] for k in setups}
    secs = dict.fromkeys(setups, 0.0)
    cpu = dict.fromkeys(setups, 0.0)
    frames_truth = []
    cap = cv2.VideoCapture(str(scene / gt["video"]))
    bar = tqdm(total=len(truth) // step, desc=scene.name, disable=not sys.stderr.isatty())
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % step == 0 and i < len(truth):
            frames_truth.append(truth[i])
            for name, det in setups.items():
                t0, c0 = time.perf_counter(), time.process_time()
                dets[name].append(det.detect(frame))
                secs[name] += time.perf_counter() - t0
                cpu[name] += time.process_time() - c0
            bar.update()
        i += 1
    cap.release()
    bar.close()
    tiling = cfg.detector.tiling
    ys = [p[1] for p in cfg.crossing.zone]
    rows = (min(ys) - tiling.far_person_px, max(ys) + (tiling.near_person_px or 0))
    out: dict = {
        "scene": scene.name,
        "model": cfg.detector.model,
        "frames": len(frames_truth),
        "foot_rows": rows,
    }
    for name in setups:
        bands, unmatched = detection_recall_by_size(frames_truth, dets[name], foot_rows=rows)
        plan = getattr(setups[name], "plan", None)
        out[name] = {
            "recall_by_height_px": {
                f"{b.lo:.0f}-{b.hi:.0f}": {
                    "recall": None if b.recall is None else round(b.recall, 3),
                    "found": b.found,
                    "total": b.total,
                }
                for b in bands
            },
            "unmatched_detections": unmatched,
            "ms_per_frame": round(1000 * secs[name] / max(1, len(frames_truth)), 1),
            "cpu_ms_per_frame": round(1000 * cpu[name] / max(1, len(frames_truth)), 1),
            "inferences_per_frame": plan.inferences_per_frame if plan else 1,
        }
    out["time_ratio_tiled_vs_untiled"] = round(secs["tiled"] / max(secs["untiled"], 1e-9), 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--step", type=int, default=2, help="every N-th frame")
    ap.add_argument("--scenes", nargs="+", default=["hd_crossing", "hd_crossing_dusk"])
    ap.add_argument(
        "--model", action="append", help="detector.model instead of the scene's (repeatable)"
    )
    args = ap.parse_args()
    scenes = REPO / "sample_media" / "scenes"
    load_start = round(os.getloadavg()[0], 2)
    results = [run(scenes / s, args.step, m) for s in args.scenes for m in args.model or [None]]
    print(
        json.dumps(
            {
                "loadavg_1m_start": load_start,
                "loadavg_1m": round(os.getloadavg()[0], 2),
                "results": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
