"""What the face stage decides for one violator: the typed result the pipeline reads.

Kept apart from :mod:`edge.faces.stage` (OpenCV, onnxruntime) so the pipeline's face-stage
protocol can name its result type without importing the models.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FaceMatch:
    person_id: str
    score: float
    backend: str
    threshold: float
    gallery_version: int
    # Runner-up (person_id, fused score) pairs, best first (``faces.alternatives``).
    alternatives: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class FaceDecision:
    match: FaceMatch | None
    faces_seen: int  # faces detected in the person box over the track's life
    faces_used: int  # kept faces that were embedded and fused
    face_jpeg: bytes | None  # best face crop, only when matched
    reason: str  # why unidentified ("" when matched)
    score: float | None = None  # fused best score even when unidentified (for tuning)
