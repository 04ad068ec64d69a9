"""The gallery file: one ``.npz`` (a zip; CRC-checked) holding a JSON header and, per
embedding backend, the embeddings, their person index and source photo name.

Shared by the edge (builds, loads and matches against it) and central (validates uploaded
snapshots, renumbers them, derives the next snapshot when a person is erased); it holds
no model code, so central can read and write galleries without importing the edge.

Why one file: central ships galleries to edges over HTTPS and an edge swaps it atomically
(write temp + rename); a directory could be seen half-written. ``np.load`` runs with
``allow_pickle=False`` so a hostile file cannot execute code. Files written before
2026-11-26 may also hold a prebuilt ``<backend>.usearch`` index; it is ignored (the edge
builds its search index in seconds, and the old one kept erased persons' vectors).

Header (``header`` member, UTF-8 JSON)::

    {"format": "jaywatch-gallery", "format_version": 1, "gallery_version": 7,
     "created": "2026-11-26T14:00:00+00:00", "persons": ["p-001", ...],
     "backends": {"sface": {"model_sha256": "...", "dim": 128, "entries": 12}, ...}}
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np

FORMAT = "jaywatch-gallery"
FORMAT_VERSION = 1


class GalleryError(ValueError):
    """A gallery that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class BackendBlock:
    """All enrolled embeddings of one backend (one model, identified by its sha256)."""

    model_sha256: str
    embeddings: np.ndarray  # (N, dim) float32, unit length
    labels: np.ndarray  # (N,) int32 index into Gallery.persons
    photos: np.ndarray  # (N,) str: "<person_id>/<file>" the embedding came from

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])


@dataclass(frozen=True)
class Gallery:
    persons: list[str]
    backends: dict[str, BackendBlock]
    gallery_version: int = 1
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    source: str = field(default="gallery", compare=False)  # file it was loaded from (errors)

    def header(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "gallery_version": self.gallery_version,
            "created": self.created,
            "persons": list(self.persons),
            "backends": {
                name: {"model_sha256": b.model_sha256, "dim": b.dim, "entries": len(b.labels)}
                for name, b in self.backends.items()
            },
        }

    def block(self, backend: str, model_sha256: str) -> BackendBlock:
        """The embeddings of ``backend``, refusing any other model than ``model_sha256``.

        Comparing vectors of two different models gives meaningless scores that still
        look like numbers, so a mismatch is an error, never a warning.
        """
        source = self.source
        if backend not in self.backends:
            have = ", ".join(sorted(self.backends)) or "none"
            raise GalleryError(
                f"{source}: has no embeddings for backend {backend!r} (it has: {have}); "
                f"rebuild it with: jaywatch gallery build ... --backend {backend}"
            )
        b = self.backends[backend]
        if b.model_sha256 != model_sha256:
            raise GalleryError(
                f"{source}: backend {backend!r} was built with model sha256 "
                f"{b.model_sha256[:12]}…, but the configured model is {model_sha256[:12]}…; "
                "embeddings of different models cannot be compared: rebuild the gallery"
            )
        return b

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {
            "header": np.frombuffer(json.dumps(self.header()).encode(), np.uint8)
        }
        for name, b in self.backends.items():
            arrays[f"{name}.embeddings"] = np.ascontiguousarray(b.embeddings, np.float32)
            arrays[f"{name}.labels"] = np.asarray(b.labels, np.int32)
            arrays[f"{name}.photos"] = np.asarray(b.photos, dtype=str)
        return arrays

    def to_bytes(self) -> bytes:
        """The file's bytes (what central stores and serves; its sha256 is announced)."""
        buf = io.BytesIO()
        np.savez(buf, **self._arrays())
        return buf.getvalue()

    def save(self, path: str | Path) -> None:
        """Write atomically (temp file in the same directory, then rename)."""
        path = Path(path)
        arrays = self._arrays()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path) -> Gallery:
        """Read and validate a gallery file.

        Raises:
            GalleryError: missing, corrupt, wrong format/version or inconsistent arrays.
        """
        path = Path(path)
        if not path.is_file():
            raise GalleryError(f"{path}: gallery file not found")
        return cls._read(path, str(path))

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "gallery") -> Gallery:
        """Validate and read a gallery held in memory (an upload); errors name ``source``."""
        return cls._read(io.BytesIO(data), source)

    @staticmethod
    def read_header(data: bytes, source: str = "gallery") -> dict:
        """The checked header of a gallery in memory (persons, version, backends' sizes),
        without reading or validating its arrays: cheap for listings."""
        return Gallery._open(io.BytesIO(data), source, arrays=False)[0]

    @staticmethod
    def _open(file: Path | BinaryIO, path: str, *, arrays: bool) -> tuple[dict, dict]:
        """``(header, arrays)`` of a gallery file; the header's format is checked."""
        try:
            with np.load(file, allow_pickle=False) as z:
                if "header" not in z.files:
                    raise GalleryError(f"{path}: no header: not a jaywatch gallery file")
                raw = z["header"].tobytes()
                data = {k: z[k] for k in z.files if k != "header"} if arrays else {}
        except GalleryError:
            raise
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
            raise GalleryError(
                f"{path}: not a readable gallery file (corrupt or truncated: {e})"
            ) from None
        try:
            header = json.loads(raw.decode())
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise GalleryError(f"{path}: header is not valid JSON") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise GalleryError(
                f"{path}: not a jaywatch gallery file (format {header.get('format')!r})"
            )
        if header.get("format_version") != FORMAT_VERSION:
            raise GalleryError(
                f"{path}: gallery format_version {header.get('format_version')!r} is not "
                f"supported (this build reads {FORMAT_VERSION}); rebuild it or update the edge"
            )
        return header, data

    @classmethod
    def _read(cls, file: Path | BinaryIO, path: str) -> Gallery:
        header, data = cls._open(file, path, arrays=True)
        try:
            persons = [str(p) for p in header["persons"]]
            version = int(header["gallery_version"])
            created = str(header["created"])
            backends: dict[str, BackendBlock] = {}
            for name, meta in header["backends"].items():
                emb = data[f"{name}.embeddings"].astype(np.float32, copy=False)
                labels = data[f"{name}.labels"].astype(np.int32, copy=False)
                photos = data[f"{name}.photos"]
                if emb.ndim != 2 or emb.shape[1] != int(meta["dim"]):
                    raise GalleryError(
                        f"{path}: {name}.embeddings: expected (N, {meta['dim']}), got {emb.shape}"
                    )
                if not (len(emb) == len(labels) == len(photos) == int(meta["entries"])):
                    raise GalleryError(
                        f"{path}: {name}: embeddings, labels and photos differ in length"
                    )
                if len(labels) and (labels.min() < 0 or labels.max() >= len(persons)):
                    raise GalleryError(f"{path}: {name}.labels: index outside the person list")
                if not np.isfinite(emb).all():
                    raise GalleryError(f"{path}: {name}.embeddings: non-finite values")
                backends[name] = BackendBlock(str(meta["model_sha256"]), emb, labels, photos)
        except KeyError as e:
            raise GalleryError(f"{path}: missing {e.args[0]!r} (header or array)") from None
        except (TypeError, ValueError) as e:
            if isinstance(e, GalleryError):
                raise
            raise GalleryError(f"{path}: malformed header: {e}") from None
        return cls(persons, backends, version, created, source=path)

    def with_version(self, version: int) -> Gallery:
        """The same gallery numbered ``version`` (central assigns numbers when it stores)."""
        return replace(self, gallery_version=version)

    def without_persons(self, person_ids: set[str], version: int) -> Gallery:
        """A copy without every entry of ``person_ids`` (an erasure), numbered ``version``.

        Labels are re-indexed to the shortened person list.
        """
        keep = [p for p in self.persons if p not in person_ids]
        new_index = np.full(len(self.persons), -1, np.int32)
        new_index[[i for i, p in enumerate(self.persons) if p not in person_ids]] = np.arange(
            len(keep), dtype=np.int32
        )
        backends: dict[str, BackendBlock] = {}
        for name, b in self.backends.items():
            mask = new_index[b.labels] >= 0
            backends[name] = BackendBlock(
                b.model_sha256,
                b.embeddings[mask].reshape(-1, b.dim),
                new_index[b.labels[mask]].astype(np.int32),
                b.photos[mask],
            )
        return Gallery(keep, backends, version, source=self.source)
