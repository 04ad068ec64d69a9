"""Locate and open the face models through ``edge.model_files`` (sha256-checked names).

Also gives the sha256 of a weights file, which the gallery stores so embeddings made by
one model are never compared with those of another.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import onnxruntime as ort

from edge import model_files


def resolve(name_or_path: str) -> Path:
    """A model name from models/manifest.json or a path to an ``.onnx`` file."""
    return model_files.resolve_model(name_or_path)


def open_session(name_or_path: str, threads: int) -> ort.InferenceSession:
    return model_files.create_session(resolve(name_or_path), threads)


@lru_cache(maxsize=16)
def file_sha256(path: Path) -> str:
    """sha256 of a file, cached per process (the dlib weights are 22 MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
