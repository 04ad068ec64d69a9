"""Face stage cost per violator on a 1280x720 scene built from a real photo.

    python bench/bench_face_stage.py [--frames 10] [--repeats 5]

Measures, per backend: ``observe`` per frame (YuNet inside the person box + quality gate),
``decide`` (embedding the kept faces + gallery match), the total per violator, and
``anonymise`` per evidence frame (whole-frame YuNet, tiled above 800 px, + blurring). The
baseline is one bare YuNet inference on a 640x640 input in the same run. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repo (tests.*) importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.faces.config import FacesConfig
from edge.faces.detect import YuNetDetector
from edge.faces.embed import make_embedder
from edge.faces.stage import ViolatorFaces
from edge.gallery.build import build_gallery
from tests.edge.faces.helpers import PHOTOS, background, paste, photo, walking_frames


def ms(f, repeats: int) -> float:
    f()
    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        t.append((time.perf_counter() - t0) * 1000)
    return round(float(np.median(t)), 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    cfg = FacesConfig()
    det = YuNetDetector(cfg.detector_model, cfg.threads)
    blob = np.zeros((1, 3, 640, 640), np.float32)
    baseline = ms(lambda: det._session.run(None, {det._input: blob}), 20)
    embedders = {b: make_embedder(b) for b in ("sface", "dlib")}
    pairs = [("obama", PHOTOS / "obama.jpg"), ("biden", PHOTOS / "biden.jpg")]
    gallery = build_gallery(pairs, embedders, cfg, det).gallery
    frames = list(walking_frames("obama3", n=args.frames))
    scene = background().copy()
    v_box = paste(scene, photo("obama3"), 80, 150, 420)
    paste(scene, photo("biden"), 600, 120, 380)
    out: dict = {
        "cpu_count": os.cpu_count(),
        "threads": cfg.threads,
        "yunet_640_inference_ms": baseline,
    }
    for b, emb in embedders.items():
        stage = ViolatorFaces(
            cfg.model_copy(update={"backend": b}), gallery, detector=det, embedder=emb
        )

        def observe_all(stage=stage) -> None:
            for f, box, t in frames:
                stage.observe(1, f, box, t)

        def one_violator(stage=stage) -> None:
            observe_all(stage)
            stage.decide(1)

        observe_ms = ms(observe_all, args.repeats) / len(frames)
        total = ms(one_violator, args.repeats)
        out[b] = {
            "observe_per_frame_ms": round(observe_ms, 2),
            "decide_ms": round(total - observe_ms * len(frames), 2),
            "per_violator_ms": total,
            "frames_per_violator": len(frames),
            "faces_embedded": cfg.max_faces_per_track,
            "per_violator_vs_yunet": round(total / baseline, 1),
        }
    stage = ViolatorFaces(cfg, gallery, detector=det, embedder=embedders["sface"])
    out["anonymise_1280x720_ms"] = ms(lambda: stage.anonymise(scene, v_box, True), args.repeats)
    big = np.ascontiguousarray(np.pad(scene, ((0, 360), (0, 640), (0, 0)), mode="edge"))
    out["anonymise_1920x1080_tiled_ms"] = ms(
        lambda: stage.anonymise(big, v_box, True), args.repeats
    )
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
