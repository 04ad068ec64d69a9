"""Configuration of the violator face stage (``faces:`` in a camera config).

The thresholds shipped here come from ``python -m edge.faces.evaluate`` (docs/face-accuracy.md);
they are similarities (cosine of L2-normalised embeddings, higher = more alike) for both
backends, so one matcher serves both while their numbers are never mixed.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Backend = Literal["sface", "dlib"]
BACKENDS: tuple[Backend, ...] = ("sface", "dlib")
Fraction = Annotated[float, Field(ge=0, le=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IndexConfig(_Strict):
    """Gallery search: exact numpy up to ``exact_max_entries``, a binary-code scan above.

    Above the limit, SimHash codes of ``bits`` bits are scanned by Hamming distance and the
    best ``rerank`` x k candidates re-scored exactly (edge/gallery/index.py says why;
    bench/bench_gallery.py measures recall against exact search).
    """

    exact_max_entries: Annotated[int, Field(ge=0)] = 20_000
    # More bits = a finer angle estimate = higher recall, and a longer scan (32 B per entry
    # at 256). At 1M in the bench (rerank 10): 128 bits found 0.55 of the weak (cosine 0.5)
    # probes, 256 found 0.84; 512 scanned 4-5x slower.
    bits: Literal[128, 256, 512] = 256
    # Candidates re-scored exactly per wanted result (k = top_k): 100 x 10 = 1,000 rows,
    # ~1 ms at 1M. In the bench it lifts recall@1 of weak (cosine 0.5) probes from 0.84 (10)
    # to 0.95; typical (0.7) probes are found either way.
    rerank: Annotated[int, Field(ge=1, le=1000)] = 100
    threads: Annotated[int, Field(ge=1, le=64)] = 1  # faiss search threads (process-wide)


class FacesConfig(_Strict):
    """What the face stage does for a track the crossing rule flagged (and for nobody else)."""

    enabled: bool = True
    backend: Backend = "sface"
    # Model names known to edge.model_files (sha256-checked) or paths to .onnx files.
    detector_model: str = "face_yunet_2023mar"
    sface_model: str = "face_sface_2021dec"
    threads: Annotated[int, Field(ge=1, le=64)] = 1
    # YuNet score (sqrt(cls*obj)) to accept a face for matching; anonymising uses a lower
    # one because a missed blur costs more than an extra one.
    detector_score: Annotated[float, Field(gt=0, lt=1)] = 0.7
    anonymise_score: Annotated[float, Field(gt=0, lt=1)] = 0.5
    # Person-box crops are upscaled at most this much before detection (small, far faces).
    detect_max_upscale: Annotated[float, Field(ge=1, le=8)] = 3.0
    # Cosine similarity a person's combined score must reach, per backend. From
    # docs/face-accuracy.md: max(published point, highest impostor score seen + 0.05).
    # dlib's impostors reached 0.93 there, so its threshold practically never matches.
    thresholds: dict[Backend, Fraction] = {"sface": 0.40, "dlib": 0.98}
    # Best person must beat the second-best person by at least this much.
    margin: Fraction = 0.05
    top_k: Annotated[int, Field(ge=1, le=1000)] = 10
    # Quality gate for one face. Face height = YuNet box height; 40 px is the smallest
    # size at which SFace stayed reliable in docs/face-accuracy.md.
    min_face_px: Annotated[int, Field(ge=8, le=1024)] = 40
    min_sharpness: Annotated[float, Field(ge=0)] = 20.0
    # Best-shot buffer and decision rule.
    max_faces_per_track: Annotated[int, Field(ge=1, le=64)] = 5
    min_faces_to_decide: Annotated[int, Field(ge=1, le=64)] = 2
    decide_after_s: Annotated[float, Field(gt=0)] = 3.0
    index: IndexConfig = IndexConfig()

    @model_validator(mode="after")
    def _consistent(self) -> FacesConfig:
        if self.min_faces_to_decide > self.max_faces_per_track:
            raise ValueError(
                "min_faces_to_decide: must not exceed max_faces_per_track "
                f"({self.min_faces_to_decide} > {self.max_faces_per_track})"
            )
        if self.backend not in self.thresholds:
            raise ValueError(f"thresholds: no threshold for backend {self.backend!r}")
        return self

    @property
    def threshold(self) -> float:
        """Threshold of the configured backend."""
        return self.thresholds[self.backend]
