"""Find the ONNX model files, prove they are the ones we shipped, and open them.

Why the sha256 check: a gateway decides who is fined on the strength of what the model
sees. A truncated copy, a half-finished ``git lfs pull`` or a swapped file must stop the
start, with one line that says which file and what to do, rather than detect nothing (or
something else) in silence. Names in ``models/manifest.json`` are checked; a path to the
user's own ``.onnx`` file is taken as given (it is their model), but it must exist.

Hashing 12 MB on every start of a small gateway is wasted seconds, so a verified digest is
remembered in a small JSON cache keyed by path, size and mtime (``JAYWATCH_CACHE_DIR``,
else ``~/.cache/jaywatch``). This guards against accidents, not an attacker who can
rewrite both the model and the cache: that is what the device's file permissions are for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationError

from jaywatch.config_file import StrictModel

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
_RESTORE_HINT = (
    "restore it from git (git checkout -- models/) or, for the pedestrian detector, "
    "run models/regenerate_pedestrian_detector.py --install (its int8 copy: "
    "models/quantize_pedestrian_detector.py --install)"
)


class ModelFileError(ValueError):
    """A model file that cannot be used; the message is one line for the operator."""


class TensorSpec(StrictModel):
    name: str
    dtype: str
    # Ints are fixed sizes; strings name dynamic axes.
    shape: list[int | str]


class SourceSpec(StrictModel):
    package: str
    version: str
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class DerivedSpec(StrictModel):
    """A model made here from another shipped model (the int8 detector from the fp32 one):
    which one (by manifest name and the sha256 it had) and the script that makes it."""

    model: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    script: str


class ManifestEntry(StrictModel):
    """One shipped model, as described in ``models/manifest.json``."""

    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(gt=0)
    task: str
    source: SourceSpec
    derived_from: DerivedSpec | None = None
    licence: str
    transformation: str
    layout: str
    colour: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


class Manifest(StrictModel):
    schema_version: int = 1
    models: dict[str, ManifestEntry]


def models_dir() -> Path:
    """``JAYWATCH_MODELS_DIR``, else ``models/`` at the repository root next to ``edge/``."""
    env = os.environ.get("JAYWATCH_MODELS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "models"


def load_manifest(directory: Path | None = None) -> Manifest:
    """Read and validate ``manifest.json`` of a models directory."""
    path = (directory or models_dir()) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(
            f"{path}: model manifest not found (set JAYWATCH_MODELS_DIR to the models "
            "directory, or restore models/ from git)"
        ) from None
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{path}: not valid JSON (line {e.lineno}): {e.msg}") from None
    try:
        return Manifest.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ModelFileError(f"{path}: {loc}: {first['msg']}") from None


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class _FileKey:
    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> _FileKey:
        st = path.stat()
        return cls(str(path.resolve()), st.st_size, st.st_mtime_ns)

    def as_str(self) -> str:
        return f"{self.path}|{self.size}|{self.mtime_ns}"


def _cache_file() -> Path:
    base = os.environ.get("JAYWATCH_CACHE_DIR")
    if base:
        return Path(base) / "model_sha256.json"
    try:
        home = Path.home()
    except RuntimeError:  # no HOME and no passwd entry (some containers)
        home = Path(tempfile.gettempdir())
    return home / ".cache" / "jaywatch" / "model_sha256.json"


def _read_cache(cache: Path) -> dict[str, str]:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _write_cache(cache: Path, entries: dict[str, str]) -> None:
    """Atomic replace; a read-only disk only costs the next start a re-hash."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=".sha256-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(entries, f, indent=0, sort_keys=True)
        os.replace(tmp, cache)
    except OSError as e:
        log.warning("could not write model hash cache %s: %s", cache, e)


def file_sha256_cached(path: Path) -> tuple[str, bool]:
    """The file's sha256 and whether it came from the cache (path+size+mtime unchanged)."""
    key = _FileKey.of(path).as_str()
    cache = _cache_file()
    entries = _read_cache(cache)
    hit = entries.get(key)
    if hit is not None:
        return hit, True
    digest = sha256_of(path)
    prefix = key.rsplit("|", 2)[0] + "|"
    # One entry per path: an old (size, mtime) of the same file is dropped.
    entries = {k: v for k, v in entries.items() if not k.startswith(prefix)}
    entries[key] = digest
    _write_cache(cache, entries)
    return digest, False


def verify_model(path: Path, expected_sha256: str, *, bytes_expected: int | None = None) -> None:
    """Raise :class:`ModelFileError` unless ``path`` exists and has ``expected_sha256``.

    The size is compared first (free) so a truncated copy fails without hashing it.
    """
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found; {_RESTORE_HINT}")
    size = path.stat().st_size
    if bytes_expected is not None and size != bytes_expected:
        raise ModelFileError(
            f"{path}: model file is {size} bytes, expected {bytes_expected} "
            f"(sha256 {expected_sha256}); the copy is damaged: {_RESTORE_HINT}"
        )
    actual, _ = file_sha256_cached(path)
    if actual != expected_sha256:
        raise ModelFileError(
            f"{path}: sha256 mismatch: expected {expected_sha256}, got {actual}; "
            f"the file is not the shipped model: {_RESTORE_HINT}"
        )


def _looks_like_path(name_or_path: str) -> bool:
    return name_or_path.endswith(".onnx") or "/" in name_or_path or os.sep in name_or_path


def resolve_model(name_or_path: str) -> Path:
    """Turn a config's ``model`` value into a verified file path.

    A manifest name (``"pedestrian_ssdlite_mnv2"``) resolves under :func:`models_dir` and
    is sha256-checked. Anything ending in ``.onnx`` or containing a path separator is the
    user's own file: it must exist, nothing more is checked.

    Raises:
        ModelFileError: one line naming the file, what was expected and what to do.
    """
    if not name_or_path.strip():
        raise ModelFileError("model: expected a model name from models/manifest.json or a path")
    directory = models_dir()
    if _looks_like_path(name_or_path):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise ModelFileError(
                f"{path}: model file not found (a path to your own .onnx must exist; "
                f"shipped models are named without a path, e.g. 'pedestrian_ssdlite_mnv2')"
            )
        return path
    manifest = load_manifest(directory)
    entry = manifest.models.get(name_or_path)
    if entry is None:
        known = ", ".join(sorted(manifest.models))
        raise ModelFileError(
            f"model {name_or_path!r} is not in {directory / MANIFEST_NAME} (known: {known}); "
            "give a known name or a path to an .onnx file"
        )
    path = directory / entry.file
    verify_model(path, entry.sha256, bytes_expected=entry.bytes)
    return path


@lru_cache(maxsize=1)
def _ort() -> Any:
    import onnxruntime

    return onnxruntime


def create_session(
    path: Path, threads: int, *, spin: bool = False, inter_op_threads: int = 1
) -> onnxruntime.InferenceSession:
    """Open an ONNX model on the CPU the way a small gateway wants it.

    ``threads`` intra-op threads for the big convolutions, one inter-op thread (unless
    the gateway's thread plan says otherwise) and
    sequential execution (these graphs are chains: parallel branches only add contention
    with the other cameras' sessions), all graph optimisations.

    Worker threads do not spin-wait for work unless ``spin``: a gateway runs several
    sessions (cameras, face models) on 2 cores, and spinning pools fight each other.
    Measured on this 2-core machine under load (load average ~9), SSD with 2 threads:
    median 73-76 ms and 30 ms CPU per run spinning, 29-34 ms and 16 ms without
    (models/README.md has the idle numbers).

    Raises:
        ModelFileError: the file is not a loadable ONNX model.
    """
    if threads < 1:
        raise ValueError(f"threads: expected >= 1, got {threads}")
    ort = _ort()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = inter_op_threads
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    # A model that fails on some frames makes onnxruntime print an error line per run to
    # stderr; the pipeline counts and reports those failures itself (rate-limited).
    opts.log_severity_level = 4
    try:
        return ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph/... types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFileError(f"{path}: onnxruntime cannot load this model: {first}") from None
