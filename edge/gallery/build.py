"""Build a gallery from ``PHOTOS_DIR/<person_id>/*.jpg`` for every requested backend.

An enrolment photo is refused, with one message naming the file, when it cannot be read,
holds no face or several faces, its face is too small or turned away, or it disagrees
with the same person's other photos (a wrong photo filed under a person would make the
system fine someone else).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.faces.config import FacesConfig
from edge.faces.detect import YuNetDetector
from edge.faces.embed import Embedder
from edge.faces.quality import frontal_score
from edge.gallery.store import BackendBlock, Gallery

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}
PERSON_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_ENROL_FACE_PX = 64  # enrolment photos are taken on purpose: demand a decent face
MIN_COUNTED_FACE_PX = 20  # smaller faces in the background do not make a photo "several faces"


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class BuildResult:
    gallery: Gallery | None  # None when no photo was accepted
    problems: list[Problem]
    accepted: int


def list_photos(photos_dir: Path) -> list[tuple[str, Path]]:
    """``(person_id, photo)`` pairs, sorted; raises ValueError on a bad layout."""
    if not photos_dir.is_dir():
        raise ValueError(f"{photos_dir}: not a directory (expected PHOTOS_DIR/<person_id>/*.jpg)")
    pairs = []
    for person in sorted(p for p in photos_dir.iterdir() if p.is_dir()):
        if not PERSON_ID.match(person.name):
            raise ValueError(f"{person}: person id must be 1-64 of A-Z a-z 0-9 _ . -")
        pairs += [
            (person.name, f) for f in sorted(person.iterdir()) if f.suffix.lower() in PHOTO_SUFFIXES
        ]
    if not pairs:
        raise ValueError(f"{photos_dir}: no photos found (expected PHOTOS_DIR/<person_id>/*.jpg)")
    return pairs


def _one_face(
    detector: YuNetDetector, image: np.ndarray, score: float
) -> tuple[np.ndarray, np.ndarray] | str:
    faces = detector.detect(image, score)
    faces = faces.subset(np.minimum(faces.xywh[:, 2], faces.xywh[:, 3]) >= MIN_COUNTED_FACE_PX)
    if len(faces) == 0:
        return "no face found (need one clear, frontal face)"
    if len(faces) > 1:
        return f"{len(faces)} faces found; an enrolment photo must show exactly one person"
    size = float(faces.xywh[0, 3])  # face height, as everywhere
    if size < MIN_ENROL_FACE_PX:
        return f"face is {size:.0f} px tall; enrolment needs at least {MIN_ENROL_FACE_PX} px"
    if frontal_score(faces.landmarks[0]) < 0.3:
        return "face is turned away or tilted; enrol a frontal photo"
    return faces.xywh[0], faces.landmarks[0]


def _disagreeing(sims: np.ndarray, threshold: float) -> np.ndarray:
    """Photos whose median similarity to the person's other photos is below threshold."""
    n = len(sims)
    if n < 2:
        return np.zeros(n, bool)
    others = np.where(np.eye(n, dtype=bool), np.nan, sims)
    return np.nanmedian(others, axis=1) < threshold


def build_gallery(
    pairs: Iterable[tuple[str, Path]],
    embedders: dict[str, Embedder],
    cfg: FacesConfig,
    detector: YuNetDetector,
    gallery_version: int = 1,
    progress: bool = False,
) -> BuildResult:
    from tqdm import tqdm

    pairs = list(pairs)
    problems: list[Problem] = []
    # person -> list of (photo, {backend: embedding})
    per_person: dict[str, list[tuple[Path, dict[str, np.ndarray]]]] = {}
    for person, path in tqdm(pairs, desc="enrolling", unit="photo", disable=not progress):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            problems.append(Problem(path, "cannot be read as an image"))
            continue
        face = _one_face(detector, image, cfg.detector_score)
        if isinstance(face, str):
            problems.append(Problem(path, face))
            continue
        vecs = {name: e.embed(image, *face) for name, e in embedders.items()}
        per_person.setdefault(person, []).append((path, vecs))

    # Photos are checked against each other with the backend that will match (the
    # configured one), at its threshold; the others' thresholds may be unusable (dlib's,
    # docs/face-accuracy.md) and would refuse genuine photos.
    judges = [cfg.backend] if cfg.backend in embedders else list(embedders)
    persons: list[str] = []
    rows: dict[str, list[tuple[np.ndarray, int, str]]] = {name: [] for name in embedders}
    for person, photos in per_person.items():
        bad = np.zeros(len(photos), bool)
        worst: dict[int, str] = {}
        for name in judges:
            m = np.stack([v[name] for _, v in photos])
            sims = m @ m.T
            dis = _disagreeing(sims, cfg.thresholds[name])
            for i in np.flatnonzero(dis & ~bad):
                med = float(np.median(np.delete(sims[i], i)))
                worst[int(i)] = f"{name} {med:.2f} < {cfg.thresholds[name]:.2f}"
            bad |= dis
        for i, (path, _) in enumerate(photos):
            if bad[i]:
                problems.append(
                    Problem(
                        path,
                        f"does not look like the other photos of {person!r} ({worst[i]}); "
                        "remove it or file it under the right person",
                    )
                )
        good = [p for i, p in enumerate(photos) if not bad[i]]
        if not good:
            continue
        idx = len(persons)
        persons.append(person)
        for path, vecs in good:
            for name in embedders:
                rows[name].append((vecs[name], idx, f"{person}/{path.name}"))

    accepted = len(rows[next(iter(embedders))]) if embedders else 0
    if not persons:
        return BuildResult(None, problems, 0)
    blocks = {
        name: BackendBlock(
            e.model_sha256,
            np.stack([r[0] for r in rows[name]]).astype(np.float32),
            np.array([r[1] for r in rows[name]], np.int32),
            np.array([r[2] for r in rows[name]], dtype=str),
        )
        for name, e in embedders.items()
    }
    return BuildResult(Gallery(persons, blocks, gallery_version), problems, accepted)
