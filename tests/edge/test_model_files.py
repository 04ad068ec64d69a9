"""Model files: manifest names are sha256-checked, damage gives one clear line, sessions open."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from edge import model_files
from edge.model_files import (
    ModelFileError,
    create_session,
    file_sha256_cached,
    load_manifest,
    resolve_model,
    verify_model,
)

REPO_MODELS = Path(__file__).resolve().parents[2] / "models"
SMALL = "face_yunet_2023mar"  # 250 kB: cheap to copy and damage


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAYWATCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("JAYWATCH_MODELS_DIR", raising=False)


@pytest.fixture
def models_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models dir with the real manifest and a writable copy of the small model only."""
    d = tmp_path / "models"
    d.mkdir()
    shutil.copy(REPO_MODELS / "manifest.json", d)
    entry = load_manifest(REPO_MODELS).models[SMALL]
    shutil.copy(REPO_MODELS / entry.file, d / entry.file)
    (d / entry.file).chmod(0o644)
    monkeypatch.setenv("JAYWATCH_MODELS_DIR", str(d))
    return d


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_manifest_matches_the_shipped_files() -> None:
    manifest = load_manifest(REPO_MODELS)
    assert set(manifest.models) == {p.stem for p in REPO_MODELS.glob("*.onnx")}
    for entry in manifest.models.values():
        path = REPO_MODELS / entry.file
        assert path.stat().st_size == entry.bytes
        assert _sha(path) == entry.sha256


def test_shipped_name_resolves_under_repo_models() -> None:
    path = resolve_model("pedestrian_ssdlite_mnv2")
    assert path == REPO_MODELS / "pedestrian_ssdlite_mnv2.onnx"


def test_verified_digest_is_cached_until_the_file_changes(models_copy: Path) -> None:
    path = models_copy / f"{SMALL}.onnx"
    assert resolve_model(SMALL) == path
    digest, cached = file_sha256_cached(path)
    assert cached and digest == _sha(path)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    _, cached = file_sha256_cached(path)
    assert not cached
    entries = json.loads((Path(os.environ["JAYWATCH_CACHE_DIR"]) / "model_sha256.json").read_text())
    assert len([k for k in entries if k.startswith(str(path.resolve()) + "|")]) == 1


def test_missing_file_names_it_and_says_what_to_do(models_copy: Path) -> None:
    (models_copy / f"{SMALL}.onnx").unlink()
    with pytest.raises(ModelFileError) as e:
        resolve_model(SMALL)
    msg = str(e.value)
    assert "\n" not in msg and isinstance(e.value, ValueError)
    assert f"{models_copy / SMALL}.onnx: model file not found" in msg
    assert "restore it from git" in msg and "regenerate_pedestrian_detector.py" in msg


def test_corrupted_copy_gives_expected_and_actual_sha256(models_copy: Path) -> None:
    path = models_copy / f"{SMALL}.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the hash can tell
    path.write_bytes(bytes(data))
    expected = load_manifest(REPO_MODELS).models[SMALL].sha256
    with pytest.raises(ModelFileError) as e:
        resolve_model(SMALL)
    msg = str(e.value)
    assert "\n" not in msg
    assert f"{path}: sha256 mismatch: expected {expected}, got {_sha(path)}" in msg
    assert "restore it from git" in msg


def test_damage_after_a_cached_success_is_still_caught(models_copy: Path) -> None:
    path = models_copy / f"{SMALL}.onnx"
    resolve_model(SMALL)
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))  # new mtime: the cached digest no longer applies
    with pytest.raises(ModelFileError, match="sha256 mismatch"):
        resolve_model(SMALL)


def test_truncated_copy_fails_on_size_without_hashing(models_copy: Path) -> None:
    path = models_copy / f"{SMALL}.onnx"
    path.write_bytes(path.read_bytes()[:1000])
    entry = load_manifest(models_copy).models[SMALL]
    with pytest.raises(ModelFileError, match=rf"is 1000 bytes, expected {entry.bytes}"):
        resolve_model(SMALL)
    assert not (Path(os.environ["JAYWATCH_CACHE_DIR"]) / "model_sha256.json").exists()


def test_verify_model_directly(models_copy: Path) -> None:
    path = models_copy / f"{SMALL}.onnx"
    verify_model(path, _sha(path))
    with pytest.raises(ModelFileError, match="sha256 mismatch"):
        verify_model(path, "0" * 64)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ModelFileError) as e:
        resolve_model("yolov8n")
    msg = str(e.value)
    assert "'yolov8n' is not in" in msg and "manifest.json" in msg
    assert "face_sface_2021dec, face_yunet_2023mar, pedestrian_ssdlite_mnv2" in msg


def test_users_own_onnx_is_taken_as_is_but_must_exist(tmp_path: Path) -> None:
    own = tmp_path / "my_detector.onnx"
    shutil.copy(REPO_MODELS / f"{SMALL}.onnx", own)
    own.write_bytes(own.read_bytes() + b"\0")  # not the shipped bytes: not checked
    assert resolve_model(str(own)) == own
    with pytest.raises(ModelFileError, match=r"missing\.onnx: model file not found"):
        resolve_model(str(tmp_path / "missing.onnx"))


def test_broken_manifest_names_the_file(models_copy: Path) -> None:
    (models_copy / "manifest.json").write_text('{"models": {"x": {"file": 3}}}')
    with pytest.raises(ModelFileError, match=r"manifest\.json: models\.x\.file"):
        resolve_model(SMALL)
    (models_copy / "manifest.json").write_text("{not json")
    with pytest.raises(ModelFileError, match=r"manifest\.json: not valid JSON \(line 1\)"):
        resolve_model(SMALL)


def test_models_dir_defaults_to_repo_models() -> None:
    assert model_files.models_dir() == REPO_MODELS


@pytest.mark.parametrize("threads", [1, 2])
def test_create_session_applies_the_thread_settings(threads: int) -> None:
    sess = create_session(resolve_model("face_sface_2021dec"), threads)
    opts = sess.get_session_options()
    assert opts.intra_op_num_threads == threads and opts.inter_op_num_threads == 1
    assert opts.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    (emb,) = sess.run(None, {"data": np.zeros((1, 3, 112, 112), np.float32)})
    assert emb.shape == (1, 128)


def test_create_session_on_a_non_model_is_one_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not protobuf" * 10)
    with pytest.raises(ModelFileError) as e:
        create_session(junk, 1)
    msg = str(e.value)
    assert msg.startswith(f"{junk}: onnxruntime cannot load this model:") and "\n" not in msg


def test_manifest_io_matches_what_onnxruntime_reports() -> None:
    for name, entry in load_manifest(REPO_MODELS).models.items():
        sess = create_session(REPO_MODELS / entry.file, 1)
        for declared, actual in (
            (entry.inputs, sess.get_inputs()),
            (entry.outputs, sess.get_outputs()),
        ):
            got = [
                (a.name, a.type, [d if isinstance(d, int) else "dynamic" for d in a.shape])
                for a in actual
            ]
            want = [
                (t.name, f"tensor({'float' if t.dtype == 'float32' else t.dtype})", t.shape)
                for t in declared
            ]
            assert got == want, name


def test_model_cards_quote_the_manifest_hashes() -> None:
    cards = (REPO_MODELS / "README.md").read_text(encoding="utf-8")
    for name, entry in load_manifest(REPO_MODELS).models.items():
        assert f"## {entry.file}" in cards, name
        assert entry.sha256 in cards and entry.source.sha256 in cards, name
        assert f"{entry.bytes:,}" in cards, name
