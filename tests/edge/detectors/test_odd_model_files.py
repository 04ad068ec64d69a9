"""Model files a user brings that cannot work, through ``jaywatch edge process`` and
``jaywatch edge check``: refused before the first frame in one line naming the file and
what was expected; and a model that raises at inference on some images only.

The camera is the vtest_road sample scene with ``detector.model`` pointed at a real ONNX
graph built here (tests/edge/detectors/yolo_graphs.py).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

from tests.edge.detectors.yolo_graphs import constant_yolo, failing_yolo

REPO = Path(__file__).resolve().parents[3]
SCENES = REPO / "sample_media" / "scenes"


def jaywatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jaywatch_app.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


def camera(tmp_path: Path, scene: str, model: Path, layout: str = "yolo") -> Path:
    data = yaml.safe_load((SCENES / scene / "camera.yaml").read_text())
    data["source"] = str(SCENES / scene / "video.mp4")
    data.setdefault("detector", {}).update(model=str(model), layout=layout, region="full")
    p = tmp_path / f"{scene}.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def one_line(r: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


def _graph(path: Path, in_dims: list, out_type: int = TensorProto.FLOAT, inputs: int = 1) -> Path:
    head = np.zeros((1, 6300, 6), helper.tensor_dtype_to_np_dtype(out_type))
    ins = [helper.make_tensor_value_info("images", TensorProto.FLOAT, in_dims)]
    ins += [
        helper.make_tensor_value_info(f"extra{i}", TensorProto.FLOAT, [1]) for i in range(1, inputs)
    ]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["head"], ["output0"])],
        "odd",
        ins,
        [helper.make_tensor_value_info("output0", out_type, list(head.shape))],
        initializer=[numpy_helper.from_array(head, "head")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _good(tmp_path: Path) -> bytes:
    return constant_yolo(tmp_path / "good.onnx", np.zeros((1, 6300, 6), np.float32)).read_bytes()


ODD = {
    "integer_output": (
        lambda p, t: _graph(p, [1, 3, 320, 320], TensorProto.INT32),
        "boxes cannot be integers",
    ),
    "batch_fixed_to_4": (lambda p, t: _graph(p, [4, 3, 320, 320]), "batch axis is fixed to 4"),
    "four_channels": (
        lambda p, t: _graph(p, [1, 4, 320, 320]),
        "expected one float32 input [1,3,S,S]",
    ),
    "channels_last": (
        lambda p, t: _graph(p, [1, 320, 320, 3]),
        "expected one float32 input [1,3,S,S]",
    ),
    "not_square": (lambda p, t: _graph(p, [1, 3, 320, 640]), "only square inputs"),
    "two_inputs": (lambda p, t: _graph(p, [1, 3, 320, 320], inputs=2), "extra1 float32[1]"),
    "truncated": (
        lambda p, t: p.write_bytes(_good(t)[: len(_good(t)) // 2]) and p,
        "cannot load this model",
    ),
    "garbage": (lambda p, t: p.write_bytes(b"\x00\xffjunk" * 500) and p, "cannot load this model"),
    "empty": (lambda p, t: p.write_bytes(b"") and p, "cannot load this model"),
}


@pytest.mark.parametrize("name", list(ODD))
def test_an_unusable_model_file_is_refused_in_one_line_naming_it(tmp_path: Path, name: str) -> None:
    make, expect = ODD[name]
    model = tmp_path / f"{name}.onnx"
    make(model, tmp_path)
    cam = camera(tmp_path, "vtest_road", model)
    r = jaywatch("edge", "process", str(SCENES / "vtest_road" / "video.mp4"), "--camera", str(cam))
    assert r.returncode == 2
    line = one_line(r)
    assert str(model) in line and expect in line, line


def _person_head() -> np.ndarray:
    head = np.zeros((1, 300, 6), np.float32)  # end-to-end rows: x1, y1, x2, y2, score, class
    head[0, 0] = [100, 80, 140, 160, 0.9, 0]
    return head


def test_process_with_a_model_that_raises_on_some_frames_says_so_and_exits_3(
    tmp_path: Path,
) -> None:
    """synthetic_rules' frames are brighter (network-input mean ~0.6) than the model's 0.5:
    every inference raises. The run goes on to the end, then says how many frames the
    detector failed on, with onnxruntime's reason, in one line (exit 3: incomplete)."""
    model = failing_yolo(tmp_path / "fails.onnx", _person_head(), fail_above_mean=0.5)
    cam = camera(tmp_path, "synthetic_rules", model)
    r = jaywatch(
        "edge", "process", str(SCENES / "synthetic_rules" / "video.mp4"), "--camera", str(cam)
    )
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    n = re.search(
        r"detector\.model (\S+) failed on (\d+) of (\d+) analysed frames \(skipped\)", last
    )
    assert n is not None, r.stderr
    assert n[1] == str(model) and int(n[2]) == int(n[3]) > 0
    assert "Gather" in last  # onnxruntime's own reason
    # The same model on darker frames (vtest_road, mean ~0.43) runs cleanly.
    cam = camera(tmp_path, "vtest_road", model)
    r = jaywatch("edge", "process", str(SCENES / "vtest_road" / "video.mp4"), "--camera", str(cam))
    assert r.returncode == 0, r.stderr


def test_check_reports_a_model_that_raises_at_inference_as_a_problem(tmp_path: Path) -> None:
    model = failing_yolo(tmp_path / "fails.onnx", _person_head(), fail_above_mean=0.5)
    cam = camera(tmp_path, "synthetic_rules", model)
    r = jaywatch("edge", "check", str(cam), "--seconds", "3")
    assert r.returncode == 2, (r.stdout, r.stderr)  # a PROBLEM, as a zone outside the frame
    assert "Traceback" not in r.stderr
    assert "PROBLEM detector.model: inference failed on" in r.stdout, r.stdout
