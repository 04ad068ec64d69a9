"""Do the pedestrian detectors give the same boxes on other CPUs? fp32 and int8, x86 and ARM.

Why: int8 convolutions run on different integer kernels depending on the CPU. On x86
without VNNI (e.g. Haswell, AVX2 only) onnxruntime's u8s8 kernel multiplies with
VPMADDUBSW, whose int16 pair sums saturate, so a u8s8 model can give other boxes there
than on the VNNI machine it was checked on; ARM runs NEON (widening multiplies) or
dot-product (UDOT/SDOT) kernels. A gateway's results must not depend on which of these
it has, so this script runs each model, unchanged, on the same 300x300 input tensors
under:

* ``x86-64-native``: this machine (AMD EPYC here: AVX2 + AVX-512 VNNI);
* ``x86-64-haswell``: ``qemu-x86_64-static -cpu Haswell`` (AVX2, FMA, no AVX-512, no
  VNNI), the same Python and onnxruntime, so onnxruntime picks its AVX2 kernels
  (``--x86-cpu Nehalem`` adds an SSE4.2-only CPU, as older Atom/Celeron gateways);
* ``aarch64-cortex-a72`` (Raspberry Pi 4 class: NEON, no dot product) and
  ``aarch64-neoverse-n1`` (NEON + dot product, as Cortex-A76 / Pi 5 / Graviton2):
  ``qemu-aarch64-static -cpu ...`` running Debian 12's arm64 python3 with PyPI's aarch64
  wheels of the same onnxruntime and numpy versions (``scripts/arm64-emulation-root.sh``
  makes that root). onnxruntime's cpuinfo reads ``/proc/cpuinfo``, which qemu-user passes
  through from the x86 host (onnxruntime then crashes at import), so each ARM run gets an
  ARM ``/proc/cpuinfo`` bind-mounted in a private mount namespace (needs root).

Emulation executes the target's instructions faithfully (qemu's TCG), so results show
whether outputs agree; emulated speed means nothing and is not reported. Speed is
measured natively only (``--speed``: CPU time per inference, 1 thread, interleaved).

Inputs: the 7 photos of sample_media/photos and their mirror images, prepared on the
host as ``SsdDetector.preprocess`` does (so every target sees identical tensors; the
resize itself is not under test). Boxes are decoded on the host with the edge's own
``SsdDetector`` post-processing at the default threshold and NMS, in the photo's pixels.

For each model and target against the same model natively: ``identical`` (raw outputs
bit-equal), the largest raw score difference, and the decoded boxes compared as
tests/edge/detectors/test_ssd_photos.py compares int8 with fp32 (same count; each box's
best twin: IoU, score difference). For each model natively against fp32 natively: the
same figures (what the photo test asserts: IoU >= 0.8, score within 0.15).

    .venv/bin/python bench/detector_agreement.py [--arm64-root DIR] [--model LABEL=FILE]
        [--x86-cpu Haswell|Nehalem|none ...] [--speed ROUNDS] [--emulated-models L,...]

The ``--raw`` mode is what runs under emulation: it imports numpy and onnxruntime only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO / "sample_media" / "photos"
FP32, INT8 = "pedestrian_ssdlite_mnv2", "pedestrian_ssdlite_mnv2_int8"
OUTPUTS = ("detection_boxes", "detection_scores", "detection_classes")
INPUT = "image_tensor:0"

# What an ARM Linux kernel shows in /proc/cpuinfo for two processors per core type.
_ARM_CPUS = {
    "cortex-a72": ("0xd08", "fp asimd evtstrm crc32 cpuid"),
    "neoverse-n1": (
        "0xd0c",
        "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm"
        " lrcpc dcpop asimddp ssbs",
    ),
}


def _session(path: str):  # type: ignore[no-untyped-def]
    """As ``edge.model_files.create_session(path, 1)`` makes it, without importing edge
    (the emulated Python has numpy and onnxruntime only)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


def run_raw(inputs: Path, out: Path, models: list[str]) -> None:
    """Each model on each image, batch 1; raw outputs into ``out`` (npz)."""
    import onnxruntime as ort

    x = np.load(inputs)["x"]
    res: dict[str, np.ndarray] = {}
    for k, path in enumerate(models):
        s = _session(path)
        names = [next(o.name for o in s.get_outputs() if o.name.startswith(n)) for n in OUTPUTS]
        runs = [s.run(names, {INPUT: img[None]}) for img in x]
        for j, n in enumerate(OUTPUTS):
            res[f"{k}/{n}"] = np.concatenate([r[j] for r in runs])
    res["meta"] = np.array(json.dumps({"machine": platform.machine(), "ort": ort.__version__}))
    np.savez(out, **res)


def _fake_cpuinfo(cpu: str, path: Path) -> None:
    part, features = _ARM_CPUS[cpu]
    block = (
        "processor\t: {i}\nBogoMIPS\t: 50.00\nFeatures\t: {f}\nCPU implementer\t: 0x41\n"
        "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: {p}\nCPU revision\t: 1\n\n"
    )
    path.write_text("".join(block.format(i=i, f=features, p=part) for i in range(2)))


def _targets(args: argparse.Namespace, tmp: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (command prefix that runs this file, extra environment)."""
    me = str(Path(__file__).resolve())
    out: dict[str, tuple[list[str], dict[str, str]]] = {"x86-64-native": ([sys.executable, me], {})}
    if platform.machine() != "x86_64":
        raise SystemExit(
            "error: the reference target is x86-64 (this is " + platform.machine() + ")"
        )
    for cpu in [c for c in args.x86_cpu or ["Haswell"] if c != "none"]:
        qemu = shutil.which("qemu-x86_64-static")
        if qemu is None:
            raise SystemExit(
                "error: qemu-x86_64-static not found (apt-get install qemu-user-static)"
            )
        out[f"x86-64-{cpu.lower()}"] = ([qemu, "-cpu", cpu, sys.executable, me], {})
    if args.arm64_root:
        root = args.arm64_root.resolve()
        py, site = root / "usr/bin/python3", root / "site"
        qemu = shutil.which("qemu-aarch64-static")
        if qemu is None or not py.exists() or not site.is_dir():
            raise SystemExit(
                f"error: --arm64-root {root}: expected usr/bin/python3 and site/ in it and "
                "qemu-aarch64-static on PATH (scripts/arm64-emulation-root.sh makes it)"
            )
        for cpu in _ARM_CPUS:
            info = tmp / f"cpuinfo-{cpu}"
            _fake_cpuinfo(cpu, info)
            inner = f'mount --bind {info} /proc/cpuinfo && exec "$@"'
            cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner, "sh"]
            cmd += [qemu, "-cpu", cpu, "-L", str(root), str(py), me]
            out[f"aarch64-{cpu}"] = (cmd, {"PYTHONPATH": str(site), "PYTHONNOUSERSITE": "1"})
    return out


def _load_images(det) -> tuple[np.ndarray, list[tuple[str, int, int]]]:  # type: ignore[no-untyped-def]
    import cv2

    blobs, names = [], []
    for p in sorted(PHOTOS.glob("*.jpg")):
        img = cv2.imread(str(p))
        if img is None:
            raise SystemExit(f"error: {p}: not a readable image")
        for tag, frame in (("", img), (" mirrored", np.ascontiguousarray(img[:, ::-1]))):
            blobs.append(det.preprocess(frame)[0])
            names.append((p.name + tag, frame.shape[0], frame.shape[1]))
    return np.stack(blobs), names


def _compare(a, b) -> dict[str, float | bool]:  # type: ignore[no-untyped-def]
    from edge.detectors.nms import box_iou_one_to_many

    worst_iou, worst_score = 1.0, 0.0
    for p, q in ((a, b), (b, a)):
        for i in range(len(p)):
            if len(q) == 0:
                worst_iou = 0.0
                continue
            iou = box_iou_one_to_many(p.xyxy[i], q.xyxy)
            j = int(iou.argmax())
            worst_iou = min(worst_iou, float(iou[j]))
            worst_score = max(worst_score, abs(float(p.scores[i]) - float(q.scores[j])))
    return {"same_count": len(a) == len(b), "worst_iou": worst_iou, "max_score_diff": worst_score}


def _summary(pairs: list[tuple[str, object, object]], ra=None, rb=None) -> dict:  # type: ignore[no-untyped-def]
    rows = [(name, _compare(a, b), len(a), len(b)) for name, a, b in pairs]
    bad = [
        f"{n}: {la} vs {lb} boxes, worst IoU {c['worst_iou']:.2f}"
        for n, c, la, lb in rows
        if not c["same_count"] or c["worst_iou"] < 0.8 or c["max_score_diff"] > 0.15
    ]
    out = {
        "boxes": sum(la for _, _, la, _ in rows),
        "same_counts": all(c["same_count"] for _, c, _, _ in rows),
        "worst_iou": round(min(c["worst_iou"] for _, c, _, _ in rows), 3),
        "max_score_diff": round(max(c["max_score_diff"] for _, c, _, _ in rows), 3),
        "within_photo_test_tolerance": not bad,
        "outside_tolerance": bad,
    }
    if ra is not None:
        out["identical"] = all(np.array_equal(ra[k], rb[k]) for k in ra)
        out["max_raw_score_diff"] = float(
            np.abs(ra["detection_scores"] - rb["detection_scores"]).max()
        )
    return out


def _speed(paths: dict[str, Path], x: np.ndarray, rounds: int) -> dict[str, float]:
    """CPU ms per batch-1 inference, 1 thread, models interleaved round by round."""
    sessions = {k: _session(str(p)) for k, p in paths.items()}
    cpu = {k: 0.0 for k in paths}
    for s in sessions.values():
        s.run(None, {INPUT: x[:1]})
    for _ in range(rounds):
        for k, s in sessions.items():
            t = time.process_time()
            for img in x:
                s.run(None, {INPUT: img[None]})
            cpu[k] += time.process_time() - t
    n = rounds * len(x)
    return {k: round(1000 * v / n, 2) for k, v in cpu.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", nargs="+", metavar="FILE", help=argparse.SUPPRESS)
    ap.add_argument("--arm64-root", type=Path, help="from scripts/arm64-emulation-root.sh")
    ap.add_argument(
        "--x86-cpu",
        action="append",
        metavar="QEMU_CPU",
        help="emulated x86 CPU (repeatable; default Haswell; 'none' for no x86 emulation)",
    )
    ap.add_argument("--model", action="append", default=[], metavar="LABEL=FILE")
    ap.add_argument("--speed", type=int, default=0, metavar="ROUNDS")
    ap.add_argument("--emulated-models", metavar="LABEL,...", help="run only these under emulation")
    args = ap.parse_args()
    if args.raw:
        run_raw(Path(args.raw[0]), Path(args.raw[1]), args.raw[2:])
        return

    from edge.config import DetectorConfig
    from edge.detectors.ssd import SsdDetector
    from edge.model_files import create_session, resolve_model

    paths = {FP32: resolve_model(FP32), INT8: resolve_model(INT8)}
    for spec in args.model:
        label, _, file = spec.partition("=")
        if not file or not Path(file).is_file():
            raise SystemExit(f"error: --model {spec}: expected LABEL=FILE of an ONNX model")
        paths[label] = Path(file)
    cfg = DetectorConfig()
    load = [round(v, 2) for v in os.getloadavg()]

    def detector(label: str) -> SsdDetector:
        return SsdDetector(
            create_session(paths[label], 1),
            paths[label],
            score_threshold=cfg.score_threshold,
            nms_iou=cfg.nms_iou,
        )

    x, names = _load_images(detector(FP32))
    result: dict = {"load_avg_start": load, "images": len(names), "targets": {}, "models": {}}
    raw: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    with tempfile.TemporaryDirectory(prefix="jaywatch-agree-") as t:
        tmp = Path(t)
        np.savez(tmp / "x.npz", x=x)
        emulated = args.emulated_models.split(",") if args.emulated_models else list(paths)
        if unknown := set(emulated) - set(paths):
            raise SystemExit(f"error: --emulated-models: {sorted(unknown)} not among {list(paths)}")
        for target, (cmd, env) in _targets(args, tmp).items():
            labels = list(paths) if target == "x86-64-native" else emulated
            out = tmp / f"{target}.npz"
            full = [*cmd, "--raw", str(tmp / "x.npz"), str(out), *(str(paths[k]) for k in labels)]
            t0 = time.monotonic()
            r = subprocess.run(full, env={**os.environ, **env}, capture_output=True, text=True)
            if r.returncode != 0:
                result["targets"][target] = {"ran": False, "stderr": r.stderr[-600:]}
                continue
            data = np.load(out)
            meta = json.loads(str(data["meta"]))
            result["targets"][target] = {
                "ran": True,
                **meta,
                "wall_s": round(time.monotonic() - t0),
            }
            raw[target] = {
                lab: {n: data[f"{k}/{n}"] for n in OUTPUTS} for k, lab in enumerate(labels)
            }

    def decode(label: str, target: str) -> list:  # type: ignore[type-arg]
        det = detector(label)
        r = raw[target][label]
        return [
            det._decode(r[OUTPUTS[0]][i], r[OUTPUTS[1]][i], r[OUTPUTS[2]][i], h, w)
            for i, (_, h, w) in enumerate(names)
        ]

    native = "x86-64-native"
    ref = decode(FP32, native)
    for label, path in paths.items():
        mine = decode(label, native)
        m: dict = {
            "file": str(path.relative_to(REPO) if path.is_relative_to(REPO) else path),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "vs_fp32_native": _summary(
                [(n[0], a, b) for n, a, b in zip(names, ref, mine, strict=True)]
            ),
            "vs_native": {},
        }
        for target in raw:
            if target == native or label not in raw[target]:
                continue
            other = decode(label, target)
            m["vs_native"][target] = _summary(
                [(n[0], a, b) for n, a, b in zip(names, mine, other, strict=True)],
                raw[native][label],
                raw[target][label],
            )
        result["models"][label] = m
    if args.speed:
        ms = _speed(paths, x, args.speed)
        result["speed_native_cpu_ms_per_inference"] = ms
        result["speed_over_fp32"] = {k: round(ms[FP32] / v, 2) for k, v in ms.items()}
    result["load_avg_end"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
