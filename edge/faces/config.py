"""Configuration of the violator face stage (``faces:`` in a camera config).

The thresholds shipped here come from ``python -m edge.faces.evaluate`` (docs/face-accuracy.md);
they are similarities (cosine of L2-normalised embeddings, higher = more alike) for both
backends, so one matcher serves both while their numbers are never mixed.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from jaywatch.config_file import StrictModel
from jaywatch.wire import MAX_MATCH_ALTERNATIVES

Backend = Literal["sface", "dlib"]
BACKENDS: tuple[Backend, ...] = ("sface", "dlib")
Fraction = Annotated[float, Field(ge=0, le=1)]


class IndexConfig(StrictModel):
    """Gallery search: exact numpy up to ``exact_max_entries``, a binary-code scan above.

    Above the limit, SimHash codes of ``bits`` bits are scanned by Hamming distance and the
    best ``rerank`` x k candidates re-scored exactly (edge/gallery/index.py says why;
    bench/bench_gallery.py measures recall against exact search).
    """

    exact_max_entries: Annotated[int, Field(ge=0)] = 20_000
    bits: Literal[128, 256, 512] = Field(
        256,
        description="More bits = a finer angle estimate = higher recall, and a longer scan (32 B "
        "per entry at 256). At 1M in the bench (rerank 10): 128 bits found 0.55 of the"
        " weak (cosine 0.5) probes, 256 found 0.84; 512 scanned 4-5x slower.",
    )
    rerank: Annotated[int, Field(ge=1, le=1000)] = Field(
        100,
        description="Candidates re-scored exactly per wanted result (k = top_k): 100 x 10 = 1,000 "
        "rows, ~1 ms at 1M. In the bench it lifts recall@1 of weak (cosine 0.5) probes"
        " from 0.84 (10) to 0.95; typical (0.7) probes are found either way.",
    )
    threads: Annotated[int, Field(ge=1, le=64)] = Field(
        1,
        description="faiss search threads (process-wide)",
    )


class FacesConfig(StrictModel):
    """What the face stage does for a track the crossing rule flagged (and for nobody else)."""

    enabled: bool = True
    backend: Backend = "sface"
    detector_model: str = Field(
        "face_yunet_2023mar",
        description="Model names known to edge.model_files (sha256-checked) or paths to .onnx "
        "files.",
    )
    sface_model: str = "face_sface_2021dec"
    threads: Annotated[int, Field(ge=1, le=64)] = 1
    detector_score: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.7,
        description="YuNet score (sqrt(cls*obj)) to accept a face for matching; anonymising uses a"
        " lower one because a missed blur costs more than an extra one.",
    )
    anonymise_score: Annotated[float, Field(gt=0, lt=1)] = 0.5
    detect_max_upscale: Annotated[float, Field(ge=1, le=8)] = Field(
        3.0,
        description="Person-box crops are upscaled at most this much before detection (small, far "
        "faces).",
    )
    thresholds: dict[Backend, Fraction] = Field(
        default_factory=lambda: {"sface": 0.40, "dlib": 0.98},
        description="Cosine similarity a person's combined score must reach, per backend. "
        "From docs/face-accuracy.md: max(published point, highest impostor score seen + "
        "0.05). dlib's impostors reached 0.93 there, so its threshold practically never "
        "matches.",
    )
    margin: Fraction = Field(
        0.05,
        description="Best person must beat the second-best person by at least this much.",
    )
    top_k: Annotated[int, Field(ge=1, le=1000)] = 10
    alternatives: Annotated[int, Field(ge=0, le=MAX_MATCH_ALTERNATIVES)] = Field(
        0,
        description="Runner-up persons sent with a MATCH (never for an unidentified violator), "
        "with their scores, for the reviewer's face comparison; 0 = off. Off by default "
        "because a central older than issue 17 refuses events that carry them: turn on "
        "after central is upgraded.",
    )
    min_face_px: Annotated[int, Field(ge=8, le=1024)] = Field(
        40,
        description="Quality gate for one face. Face height = YuNet box height; 40 px is the "
        "smallest size at which SFace stayed reliable in docs/face-accuracy.md.",
    )
    min_sharpness: Annotated[float, Field(ge=0)] = 20.0
    max_faces_per_track: Annotated[int, Field(ge=1, le=64)] = Field(
        5,
        description="Best-shot buffer and decision rule.",
    )
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
        if self.alternatives >= self.top_k:
            raise ValueError(
                "alternatives: must be less than top_k (the search must return the best "
                f"person and the runner-ups; {self.alternatives} >= {self.top_k})"
            )
        if self.backend not in self.thresholds:
            raise ValueError(f"thresholds: no threshold for backend {self.backend!r}")
        return self

    @property
    def threshold(self) -> float:
        """Threshold of the configured backend."""
        return self.thresholds[self.backend]


class FacesFile(StrictModel):
    """A faces YAML on its own (config/faces.example.yaml, ``jaywatch gallery build
    --config``): the camera file's ``faces:`` section as its only key."""

    faces: FacesConfig = FacesConfig()
