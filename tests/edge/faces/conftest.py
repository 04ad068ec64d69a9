from __future__ import annotations

import pytest

from edge.faces.config import FacesConfig
from edge.faces.detect import YuNetDetector
from edge.faces.embed import Embedder, make_embedder
from edge.gallery.build import build_gallery
from edge.gallery.store import Gallery
from tests.edge.faces.helpers import PHOTOS


@pytest.fixture(scope="session")
def detector() -> YuNetDetector:
    return YuNetDetector()


@pytest.fixture(scope="session")
def embedders() -> dict[str, Embedder]:
    return {b: make_embedder(b) for b in ("sface", "dlib")}


def _gallery(people: dict[str, list[str]], detector, embedders) -> Gallery:
    pairs = [(pid, PHOTOS / f"{n}.jpg") for pid, names in people.items() for n in names]
    res = build_gallery(pairs, embedders, FacesConfig(), detector)
    assert not res.problems, res.problems
    assert res.gallery is not None
    return res.gallery


@pytest.fixture(scope="session")
def gallery_with_obama(detector, embedders) -> Gallery:
    """Obama enrolled from obama.jpg + obama2.jpg; the probe photo obama3.jpg is NOT in it."""
    return _gallery(
        {"p-obama": ["obama", "obama2"], "p-biden": ["biden"], "p-astronaut": ["astronaut"]},
        detector,
        embedders,
    )


@pytest.fixture(scope="session")
def gallery_without_obama(detector, embedders) -> Gallery:
    return _gallery({"p-biden": ["biden"], "p-astronaut": ["astronaut"]}, detector, embedders)
