"""Regenerate every scene in sample_media/scenes from the licensed source video.

Needs vtest.avi from Debian's opencv-doc (``apt-get install -y opencv-doc``) and the
project venv (opencv-python-headless, onnxruntime, numpy, pyyaml; the edge extra also
lets camera.yaml be validated by edge.config). Output is deterministic: no randomness
except GrabCut's, which is seeded.

Run from the repository root: ``python sample_media/make_scenes.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_synthetic_scene as synthetic  # noqa: E402
import make_vtest_scene as vtest  # noqa: E402
from tools.signal_head import HeadColours  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--source", type=Path, default=vtest.SOURCE, help="vtest.avi (apt-get install opencv-doc)"
    )
    ap.add_argument("--out", type=Path, default=HERE / "scenes")
    args = ap.parse_args()
    if not args.source.is_file():
        sys.exit(f"{args.source}: not found; install it with: apt-get install -y opencv-doc")
    vtest.make(args.source, args.out)
    report = {}
    for name, colours, cam_id in (
        ("synthetic_rules", HeadColours("red", "green"), "synthetic-rules"),
        ("synthetic_rules_us", HeadColours("orange", "white"), "synthetic-rules-us"),
    ):
        prov = synthetic.build(args.source, args.out, name, colours, cam_id)
        report[name] = prov["ssd_detection_rate"]["per_walker"]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
