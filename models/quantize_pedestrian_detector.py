"""Build models/pedestrian_ssdlite_mnv2_int8.onnx from the shipped fp32 pedestrian detector.

Why: on a 2-core gateway the fp32 SSDLite does 60-76 inferences/s, so 8 cameras at 10
analysed fps cannot fit (issue 18). 74% of its time is in Conv; int8 convolutions run on
the CPU's integer dot-product instructions (VNNI, AVX2, NEON). Steps, each checked:

1. Read ``pedestrian_ssdlite_mnv2.onnx`` and check its sha256 against manifest.json.
2. Remove the in-graph preprocessing Loop (TF's ``Preprocessor/map``: one iteration per
   image, bilinear Resize to 300x300, ~0.6 ms of per-iteration overhead). The edge always
   feeds 300x300 (``SsdDetector.preprocess``), where that Resize (``asymmetric``, linear)
   samples every pixel at its own position: an identity. The input is fixed to
   ``[N,300,300,3]`` so any other size is refused by onnxruntime instead of being fed to
   the convolutions unresized. The Loop's second output, the "true image shape", was a
   constant ``[300,300,3]`` per image; it becomes that constant expanded to the batch.
   The result must give **bit-identical** outputs to the fp32 file on every check image
   (sample_media/photos and the calibration frames), batch 1 and batch 3, or the script
   stops.
3. ``onnxruntime.quantization.quantize_static``: QDQ format (onnxruntime fuses it into
   QLinearConv at load; measured against QOperator in bench/bench_detector.py
   ``--int8-formats``), per-channel int8 weights, uint8 activations, MinMax calibration.
   Only the MobileNetV2 feature extractor and the box predictor (Conv, the Relu6 Clips
   and the residual Adds) are quantized, so activations stay int8 from conv to conv;
   the box decoding (anchors, Exp, Sigmoid) and the NMS loop stay fp32.
   **Weights: 7 bits for every conv except the depthwise ones, which keep 8 bits**, so
   the results do not depend on the gateway's CPU (bench/detector_agreement.py):
   onnxruntime's AVX2 u8s8 GEMM (x86 without VNNI: Haswell to Skylake, Zen 1-3)
   multiplies uint8 activations by int8 weights with VPMADDUBSW, whose int16 sum of
   two products saturates once 255 * (|w1| + |w2|) > 32767; with |w| <= 64 it cannot
   (255 * 128 = 32640). Full-range weights gave boxes at IoU 0.57 from this CPU's
   under emulated Haswell; 7-bit weights everywhere agree bit for bit there but lost a
   far (69 px) person on a mirrored vtest photo (score 0.69 -> < 0.3): the loss came
   from the depthwise convs (9 weights a channel), whose kernel widens to int16 before
   multiplying and does not saturate, so they keep 8 bits. Measured with
   bench/detector_agreement.py: boxes within the photo test's tolerance of fp32, and
   the same as this CPU's under emulated Haswell, Nehalem (SSE4.2), Cortex-A72 (NEON)
   and Neoverse-N1 (dot product). Other choices measured (models/README.md): u8u8 (no
   saturation, but no faster than fp32 here and a lost box), s8s8 (saturates like
   u8s8 on AVX2), per-tensor weights (boxes outside tolerance), 7-bit weights with the
   box heads or the first conv in fp32 (the lost person stays lost).
4. Print the sha256. ``--check`` compares it with manifest.json; ``--install`` writes the
   file into models/ and updates its sha256/size there.

Calibration frames (not any evaluation data): every 2nd frame of
``sample_media/faces/scene/video.mp4`` (the face-stage scene: two people from
face-recognition's test photos walking over vtest.avi's *median* background, so none of
the walking people of vtest.avi), 85 frames. No frame of the pedestrian scenes
(``sample_media/scenes/*``: vtest_road, synthetic_rules*, hd_crossing*) and none of
``sample_media/photos`` (the detector photo test) is used.

``--calibration-set video+tiles+lowlight`` (measured, not shipped: no recall gained)
adds one seeded ~300 px square crop of each of those frames (what a detector tile
shows) and a seeded low-light copy of every image (gamma 1.3-2.2, gain 0.3-0.8, colour
cast 0.8-1.2 a channel, sensor noise sigma 2-10 plus 0-4 grey levels): all made from the
same calibration video, so still no evaluation frame. ``--weight-range
8bit-where-input-bounded`` (measured, not shipped: dusk recall as fp32's but 1.52x
fp32 speed) gives 8-bit weights to the GEMM convs whose input the op bounds (Relu6
outputs, the normalised image) and quantizes that input on 7 bits instead; see
models/README.md.

Reproducible: calibration is deterministic (fixed frames, MinMax), so two runs give the
same bytes (checked: same sha256 in two runs with onnxruntime 1.32.0, onnx 1.23.2,
opencv-python-headless 4.x); other onnxruntime/onnx versions may serialise differently,
which ``--check`` shows.

    .venv/bin/python models/quantize_pedestrian_detector.py [--check] [--install]
        [--out FILE] [--format qdq|qoperator] [--weight-range ...] [--no-strip-loop]
        [--activations uint8|int8] [--weights int8|uint8] [--per-tensor]
        [--symmetric-activations] [--calibration ...] [--fp32-nodes PREFIX,...]
        [--calibration-set video|video+tiles|video+lowlight|video+tiles+lowlight]
        [--fold-clips]

(the options other than --out/--check/--install rebuild the alternatives measured)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import helper, numpy_helper

MODELS = Path(__file__).resolve().parent
REPO = MODELS.parent
SOURCE_NAME = "pedestrian_ssdlite_mnv2"
NAME = "pedestrian_ssdlite_mnv2_int8"
SIZE = 300
INPUT = "image_tensor:0"
CALIBRATION_VIDEO = REPO / "sample_media" / "faces" / "scene" / "video.mp4"
CALIBRATION_STEP = 2
CHECK_PHOTOS = REPO / "sample_media" / "photos"
CALIBRATION_SEED = 18
TILE_SIDES = (240, 300, 384)
LOW_LIGHT_GAMMA = (1.3, 2.2)
LOW_LIGHT_GAIN = (0.3, 0.8)
LOW_LIGHT_TINT = (0.8, 1.2)
LOW_LIGHT_NOISE = (2.0, 10.0)
LOW_LIGHT_FIXED_NOISE = (0.0, 4.0)
# tf2onnx's names for the TF preprocessing map (see models/README.md).
PRE_LOOP = "generic_loop_Loop__88"
PRE_IMAGES = "Preprocessor/map/TensorArrayStack/TensorArrayGatherV3:0"
PRE_SHAPES = "Preprocessor/map/TensorArrayStack_1/TensorArrayGatherV3:0"
TO_FLOAT = "ToFloat:0"
# Node name prefixes quantized: backbone and box/class heads.
QUANTIZED_PREFIXES = ("FeatureExtractor/", "BoxPredictor_")
QUANTIZED_OPS = ["Conv", "Clip", "Add"]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def fail(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)
    raise SystemExit(1)


def manifest() -> dict:
    return json.loads((MODELS / "manifest.json").read_text(encoding="utf-8"))


def rgb300(frame_bgr: np.ndarray) -> np.ndarray:
    """What ``SsdDetector.preprocess`` feeds: 300x300 stretch, RGB, uint8."""
    small = cv2.resize(frame_bgr, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(small, cv2.COLOR_BGR2RGB)


def calibration_video() -> list[np.ndarray]:
    """Every ``CALIBRATION_STEP``-th frame of the calibration video, BGR, full size."""
    cap = cv2.VideoCapture(str(CALIBRATION_VIDEO))
    out, i = [], 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % CALIBRATION_STEP == 0:
            out.append(frame)
        i += 1
    cap.release()
    if len(out) < 50:
        fail(f"{CALIBRATION_VIDEO}: expected ~85 calibration frames, read {len(out)}")
    return out


def tile_crop(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A square crop like a detector tile (the edge tiles 1080p frames into ~300 px
    squares, so the SSD sees people at close to native size, not squeezed)."""
    h, w = frame.shape[:2]
    side = int(rng.choice(TILE_SIDES))
    x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    return frame[y : y + side, x : x + side]


def low_light(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A low-light version of a BGR frame: gamma and gain (darker, less contrast), a
    colour cast, temporal and fixed-pattern sensor noise, each drawn from a range."""
    gamma, gain = rng.uniform(*LOW_LIGHT_GAMMA), rng.uniform(*LOW_LIGHT_GAIN)
    tint = rng.uniform(*LOW_LIGHT_TINT, size=3).astype(np.float32)
    sigma, fixed = rng.uniform(*LOW_LIGHT_NOISE), rng.uniform(*LOW_LIGHT_FIXED_NOISE)
    f = (frame.astype(np.float32) / 255.0) ** gamma * gain * 255.0 * tint
    f += rng.normal(0.0, np.hypot(sigma, fixed), f.shape).astype(np.float32)
    return np.clip(f + 0.5, 0, 255).astype(np.uint8)


def calibration_frames(kind: str = "video") -> list[np.ndarray]:
    """The calibration inputs (300x300 RGB): ``video`` the frames; ``+tiles`` adds one
    tile-sized crop of each; ``+lowlight`` adds a low-light copy of each of those."""
    video = calibration_video()
    rng = np.random.default_rng(CALIBRATION_SEED)
    images = list(video)
    if "tiles" in kind:
        images += [tile_crop(f, rng) for f in video]
    if "lowlight" in kind:
        images += [low_light(f, rng) for f in images]
    return [rgb300(f) for f in images]


def check_images() -> list[np.ndarray]:
    photos = [cv2.imread(str(p)) for p in sorted(CHECK_PHOTOS.glob("*.jpg"))]
    return [rgb300(p) for p in photos if p is not None]


def _used_names(graph: onnx.GraphProto) -> set[str]:
    """Every tensor name a node reads, subgraphs included (they read outer names)."""
    used: set[str] = set()
    for node in graph.node:
        used.update(node.input)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                used |= _used_names(attr.g)
    return used


def _drop_dead(graph: onnx.GraphProto) -> None:
    """Remove nodes and initializers nothing reads (the Loop's condition inputs)."""
    outputs = {o.name for o in graph.output}
    while True:
        used = _used_names(graph) | outputs
        dead = [n for n in graph.node if not any(o in used for o in n.output if o)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    used = _used_names(graph) | outputs
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)


def strip_preprocessing_loop(model: onnx.ModelProto) -> onnx.ModelProto:
    """The graph without its resize Loop, for input already 300x300 (see step 2)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    loop = next((n for n in g.node if n.name == PRE_LOOP), None)
    if loop is None or list(loop.output)[2:] != [PRE_SHAPES, PRE_IMAGES]:
        fail(f"{PRE_LOOP}: not the expected preprocessing Loop; is this the shipped graph?")
    body = loop.attribute[0].g
    resize = [n for n in body.node if n.op_type == "Resize"]
    modes = {a.name: helper.get_attribute_value(a) for a in resize[0].attribute}
    if len(resize) != 1 or modes.get("coordinate_transformation_mode") != b"asymmetric":
        fail(f"{PRE_LOOP}: expected one asymmetric Resize, got {modes}")
    idx = list(g.node).index(loop)
    g.node.remove(loop)
    shapes = np.array([[SIZE, SIZE, 3]], np.int32)  # the Loop's constant per image
    new = [
        # NHWC float -> NCHW, what the Loop stacked (its Resize is the identity at 300).
        helper.make_node(
            "Transpose", [TO_FLOAT], [PRE_IMAGES], "Int8Prep/ToNCHW", perm=[0, 3, 1, 2]
        ),
        helper.make_node("Shape", [INPUT], ["Int8Prep/shape"], "Int8Prep/Shape"),
        helper.make_node(
            "Slice",
            ["Int8Prep/shape", "Int8Prep/zero", "Int8Prep/one"],
            ["Int8Prep/batch"],
            "Int8Prep/Batch",
        ),
        helper.make_node(
            "Concat",
            ["Int8Prep/batch", "Int8Prep/three"],
            ["Int8Prep/rows"],
            "Int8Prep/Rows",
            axis=0,
        ),
        helper.make_node(
            "Expand", ["Int8Prep/true_shape", "Int8Prep/rows"], [PRE_SHAPES], "Int8Prep/TrueShapes"
        ),
    ]
    for k, node in enumerate(new):
        g.node.insert(idx + k, node)
    g.initializer.extend(
        [
            numpy_helper.from_array(np.array([0], np.int64), "Int8Prep/zero"),
            numpy_helper.from_array(np.array([1], np.int64), "Int8Prep/one"),
            numpy_helper.from_array(np.array([3], np.int64), "Int8Prep/three"),
            numpy_helper.from_array(shapes, "Int8Prep/true_shape"),
        ]
    )
    _drop_dead(g)
    dims = g.input[0].type.tensor_type.shape.dim
    dims[0].dim_param = "batch"
    for d in (dims[1], dims[2]):
        d.Clear()
        d.dim_value = SIZE
    # Shape inference from tf2onnx's run refers to the removed names; let ORT redo it.
    del g.value_info[:]
    onnx.checker.check_model(model, full_check=True)
    return model


def _session(model: onnx.ModelProto | Path):  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    src = str(model) if isinstance(model, Path) else model.SerializeToString()
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


def check_identical(fp32: Path, stripped: onnx.ModelProto, images: list[np.ndarray]) -> int:
    """Outputs of the stripped graph == the shipped graph's, bit for bit; returns count."""
    a, b = _session(fp32), _session(stripped)
    batches = [img[None] for img in images] + [np.stack(images[:3])]
    for blob in batches:
        ra, rb = a.run(None, {INPUT: blob}), b.run(None, {INPUT: blob})
        for out, x, y in zip(a.get_outputs(), ra, rb, strict=True):
            if x.shape != y.shape or not np.array_equal(x, y):
                fail(f"loop removal changed {out.name} (batch {len(blob)}): not identical")
    return len(batches)


@dataclass(frozen=True)
class Recipe:
    """The quantization choices; the defaults are the shipped file's."""

    fmt: str = "qdq"
    # full: 8-bit weights everywhere; reduced: 7-bit everywhere; reduced-except-depthwise:
    # 7-bit for the convs the u8s8 GEMM runs (no int16 saturation on AVX2 without VNNI),
    # 8-bit for the depthwise convs (their kernel widens to 16 bits before multiplying).
    weight_range: str = "reduced-except-depthwise"
    activations: str = "uint8"  # uint8 | int8
    weights: str = "int8"  # int8 | uint8
    per_channel: bool = True
    symmetric_activations: bool = False
    # Name prefixes of nodes kept in fp32 (not quantized) among the quantized ones.
    fp32_nodes: tuple[str, ...] = ()
    calibration: str = "minmax"  # minmax | percentile | entropy
    calibration_set: str = "video"  # video | video+tiles | video+tiles+lowlight ...
    fold_clips: bool = False  # 8bit-where-input-bounded only: measured, not CPU-safe
    # 8bit-where-input-bounded only: name prefixes of the convs it applies to (all if empty)
    eight_bit_nodes: tuple[str, ...] = ()


def _bounded_range(node, weights) -> tuple[np.float32, np.float32] | None:  # type: ignore[no-untyped-def]
    """The output range of ``node`` if the op itself bounds it (Relu6 Clip, the image
    normalisation ``x * 2/255 - 1``), else None."""
    if node is None:
        return None
    if node.op_type == "Clip" and all(i in weights for i in node.input[1:3]):
        lo, hi = (float(numpy_helper.to_array(weights[i])) for i in node.input[1:3])
        return np.float32(lo), np.float32(hi)
    if node.name == "Preprocessor/sub":
        return np.float32(-1.0), np.float32(1.0)
    return None


def quantize(src: Path, out: Path, frames: list[np.ndarray], recipe: Recipe) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(frames)

        def get_next(self) -> dict[str, np.ndarray] | None:
            f = next(self._it, None)
            return None if f is None else {INPUT: f[None]}

    model = onnx.load(str(src))
    nodes = [
        n.name
        for n in model.graph.node
        if n.name.startswith(QUANTIZED_PREFIXES) and not n.name.startswith(recipe.fp32_nodes)
    ]
    qtype = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    extra: dict = {"ActivationSymmetric": True} if recipe.symmetric_activations else {}
    if recipe.weight_range == "reduced-except-depthwise":
        weights = {i.name: i for i in model.graph.initializer}
        overrides = {}
        for n in model.graph.node:
            group = next((a.i for a in n.attribute if a.name == "group"), 1)
            if n.op_type == "Conv" and n.name in nodes and group > 1:
                channels = weights[n.input[1]].dims[0]
                overrides[n.input[1]] = [{"axis": 0, "reduce_range": False}] + [{}] * (channels - 1)
        extra["TensorQuantOverrides"] = overrides
    if recipe.weight_range == "8bit-where-input-bounded":
        # A GEMM conv whose input is bounded by construction (a Relu6 output, [0, 6], or
        # the normalised image, [-1, 1]) reads that input on 7 bits (q <= 127 for any
        # image: the range is the op's, not calibrated) and keeps 8-bit weights:
        # 127 * (127 + 127) = 32258 cannot saturate. The others (the expand convs and
        # Conv_1 read the linear bottlenecks, unbounded) keep 7-bit weights.
        weights = {i.name: i for i in model.graph.initializer}
        producer = {o: n for n in model.graph.node for o in n.output}
        overrides = {}
        for n in model.graph.node:
            if n.op_type != "Conv" or n.name not in nodes:
                continue
            channels = weights[n.input[1]].dims[0]
            eight_bit = [{"axis": 0, "reduce_range": False}] + [{}] * (channels - 1)
            if next((a.i for a in n.attribute if a.name == "group"), 1) > 1:
                overrides[n.input[1]] = eight_bit  # depthwise: no saturation
                continue
            bounds = _bounded_range(producer.get(n.input[0]), weights)
            chosen = not recipe.eight_bit_nodes or n.name.startswith(recipe.eight_bit_nodes)
            if bounds is not None and chosen:
                lo, hi = bounds
                wide = [{"rmin": lo, "rmax": lo + (hi - lo) * np.float32(255 / 127)}]
                overrides[n.input[0]] = wide
                clip = producer[n.input[0]]
                if clip.op_type == "Clip":  # onnxruntime folds the Clip into the conv
                    overrides[clip.input[0]] = wide  # before it: the range it quantizes
                overrides[n.input[1]] = eight_bit
        extra["TensorQuantOverrides"] = overrides
        # Keep the Relu6 Clips: onnxruntime otherwise folds each into its conv and lets
        # the quantization range do the clipping, which at the widened range clips at
        # ~12 (q up to 255: saturation possible again). Kept, they run in fp32 between
        # a DequantizeLinear and a QuantizeLinear: 1.52x fp32 speed instead of 1.84x.
        extra["QDQKeepRemovableActivations"] = not recipe.fold_clips
    if len(frames) > 100:  # bound the memory: every image's activations are kept otherwise
        extra["CalibMaxIntermediateOutputs"] = 16
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    quantize_static(
        str(src),
        str(out),
        Frames(),
        quant_format=QuantFormat.QDQ if recipe.fmt == "qdq" else QuantFormat.QOperator,
        op_types_to_quantize=QUANTIZED_OPS,
        nodes_to_quantize=nodes,
        per_channel=recipe.per_channel,
        reduce_range=recipe.weight_range != "full",
        activation_type=qtype[recipe.activations],
        weight_type=qtype[recipe.weights],
        calibrate_method=methods[recipe.calibration],
        extra_options=extra,
    )


def build(out: Path, recipe: Recipe = Recipe(), *, strip: bool = True) -> Path:
    entry = manifest()["models"][SOURCE_NAME]
    fp32 = MODELS / entry["file"]
    if sha256(fp32) != entry["sha256"]:
        fail(f"{fp32}: sha256 differs from manifest.json; restore it (git checkout -- models/)")
    frames = calibration_frames(recipe.calibration_set)
    with tempfile.TemporaryDirectory(prefix="jaywatch-int8-") as tmp:
        src = fp32
        if strip:
            stripped = strip_preprocessing_loop(onnx.load(str(fp32)))
            n = check_identical(fp32, stripped, check_images() + frames)
            print(f"ok   preprocessing loop removed: outputs bit-identical on {n} inputs")
            src = Path(tmp) / "stripped.onnx"
            onnx.save(stripped, str(src))
        quantize(src, out, frames, recipe)
    model = onnx.load(str(out))
    model.producer_name = "jaywatch models/quantize_pedestrian_detector.py"
    model.producer_version = "1"
    model.graph.doc_string = f"int8 from {entry['file']} sha256 {entry['sha256']}"
    onnx.save(model, str(out))
    print(
        f"ok   {recipe.fmt} int8 from {len(frames)} images ({recipe.calibration_set}) "
        f"of {CALIBRATION_VIDEO.name}"
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write here (default: a temporary file)")
    ap.add_argument("--format", choices=["qdq", "qoperator"], default="qdq")
    ap.add_argument(
        "--weight-range",
        choices=[
            "reduced-except-depthwise",
            "reduced",
            "full",
            "8bit-where-input-bounded",
        ],
        default="reduced-except-depthwise",
        help="7-bit weights except depthwise (default), 7-bit everywhere, 8-bit everywhere",
    )
    ap.add_argument("--no-strip-loop", action="store_true", help="keep the resize Loop")
    ap.add_argument("--activations", choices=["uint8", "int8"], default="uint8")
    ap.add_argument("--weights", choices=["int8", "uint8"], default="int8")
    ap.add_argument("--per-tensor", action="store_true", help="one weight scale per conv")
    ap.add_argument("--symmetric-activations", action="store_true")
    ap.add_argument("--calibration", choices=["minmax", "percentile", "entropy"], default="minmax")
    ap.add_argument(
        "--calibration-set",
        default="video",
        help="video, video+tiles, video+lowlight, video+tiles+lowlight",
    )
    ap.add_argument(
        "--fold-clips",
        action="store_true",
        help="with 8bit-where-input-bounded: let onnxruntime fold the Relu6 Clips (unsafe)",
    )
    ap.add_argument(
        "--eight-bit-nodes",
        default="",
        help="with 8bit-where-input-bounded: only convs with these comma-separated prefixes",
    )
    ap.add_argument(
        "--fp32-nodes",
        default="",
        help="comma-separated node name prefixes to leave in fp32",
    )
    ap.add_argument("--check", action="store_true", help="sha256 must equal manifest.json's")
    ap.add_argument("--install", action="store_true", help=f"write models/{NAME}.onnx")
    args = ap.parse_args()
    recipe = Recipe(
        fmt=args.format,
        weight_range=args.weight_range,
        activations=args.activations,
        weights=args.weights,
        per_channel=not args.per_tensor,
        symmetric_activations=args.symmetric_activations,
        fp32_nodes=tuple(p for p in args.fp32_nodes.split(",") if p),
        calibration=args.calibration,
        calibration_set=args.calibration_set,
        fold_clips=args.fold_clips,
        eight_bit_nodes=tuple(p for p in args.eight_bit_nodes.split(",") if p),
    )
    default = recipe == Recipe() and not args.no_strip_loop
    if (args.check or args.install) and not default:
        fail("--check/--install build the shipped settings only (no --format/--no-* flags)")
    with tempfile.TemporaryDirectory(prefix="jaywatch-int8-out-") as tmp:
        out = args.out or Path(tmp) / f"{NAME}.onnx"
        build(out, recipe, strip=not args.no_strip_loop)
        digest = sha256(out)
        print(f"{out}: {out.stat().st_size} bytes, sha256 {digest}")
        entry = manifest()["models"].get(NAME)
        if args.check:
            if entry is None or entry["sha256"] != digest:
                want = entry["sha256"] if entry else "no entry"
                fail(f"sha256 {digest} differs from manifest.json ({want})")
            print("ok   matches manifest.json")
        if args.install:
            target = MODELS / f"{NAME}.onnx"
            shutil.copyfile(out, target)
            if entry is not None:
                path = MODELS / "manifest.json"
                text = path.read_text(encoding="utf-8")
                text = text.replace(f'"sha256": "{entry["sha256"]}"', f'"sha256": "{digest}"', 1)
                size = target.stat().st_size
                text = text.replace(f'"bytes": {entry["bytes"]},', f'"bytes": {size},', 1)
                json.loads(text)
                path.write_text(text, encoding="utf-8")
            print(f"installed {target}; commit it with manifest.json")


if __name__ == "__main__":
    main()
