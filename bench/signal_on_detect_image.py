"""Would the ROI signal reader still be right on the detect image? (issue 18, measured)

Converting the main frame on demand (edge/av_capture.py) still decodes every main frame,
because the signal ROI is read from the main frame's pixels. Skipping the main decode
altogether would need the reader on the detect image instead. This reads every frame of
each real scene twice, with the camera's reader: on the main frame, and on the frame
scaled to ``--width`` (cv2 INTER_AREA: a sub stream without its own encoding artefacts,
so an optimistic stand-in) with the ROI scaled to it, or with ``--encoded`` on the scene
re-encoded at that size as H.264 (bench/scaled_scene.py: a sub stream with its own
compression), and prints JSON: per scene, how many frames agree on the phase and the phase
changes each found.

    .venv/bin/python bench/signal_on_detect_image.py [--width 640] [--encoded]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import yaml

from edge.capture import VideoFileSource
from edge.config import CameraConfig
from edge.signal import create_signal_reader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scaled_scene import scaled_video

SCENES = Path(__file__).resolve().parents[1] / "sample_media" / "scenes"


def changes(states: list[tuple[float, str]]) -> list[tuple[float, str]]:
    out = []
    for t, s in states:
        if not out or out[-1][1] != s:
            out.append((t, s))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--encoded", action="store_true", help="a re-encoded H.264 sub stream")
    args = ap.parse_args()
    report = {}
    for scene in sorted(p.parent.name for p in SCENES.glob("*/video.mp4")):
        cam = yaml.safe_load((SCENES / scene / "camera.yaml").read_text())
        src = VideoFileSource(SCENES / scene / "video.mp4")
        sx = args.width / src.width
        dh = round(src.height * sx) // 2 * 2
        sy = dh / src.height
        x, y, w, h = cam["signal"]["roi"]
        small_roi = [round(x * sx), round(y * sy), max(1, round(w * sx)), max(1, round(h * sy))]
        cfg = CameraConfig.model_validate(cam)
        small_cfg = CameraConfig.model_validate(
            {**cam, "signal": {**cam["signal"], "roi": small_roi}}
        )
        main_r, small_r = create_signal_reader(cfg.signal), create_signal_reader(small_cfg.signal)
        main_s, small_s = [], []
        subs = None
        if args.encoded:
            subs = iter(VideoFileSource(scaled_video(scene, args.width, dh)))
        for f in src:
            if subs is not None:
                sf = next(subs, None)
                if sf is None:
                    break
                small = sf.image
            else:
                small = cv2.resize(f.image, (args.width, dh), interpolation=cv2.INTER_AREA)
            main_s.append((f.t, main_r.update(f.image, f.t).state.value))
            small_s.append((f.t, small_r.update(small, f.t).state.value))
        agree = sum(a[1] == b[1] for a, b in zip(main_s, small_s, strict=True))
        cm, cs = changes(main_s), changes(small_s)
        report[scene] = {
            "main": f"{src.width}x{src.height}",
            "roi_main": [x, y, w, h],
            "roi_detect": small_roi,
            "frames": len(main_s),
            "frames_same_phase": agree,
            "phase_changes_main": [(round(t, 2), s) for t, s in cm],
            "phase_changes_detect": [(round(t, 2), s) for t, s in cs],
        }
    out = {"detect_width": args.width, "encoded_sub_stream": args.encoded, "scenes": report}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
