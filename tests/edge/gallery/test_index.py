"""Search: the approximate index agrees with exact search; matcher threshold and margin."""

from __future__ import annotations

import numpy as np

from edge.faces.config import FacesConfig, IndexConfig
from edge.faces.match import GalleryMatcher
from edge.gallery.index import ExactIndex, UsearchIndex, build_index
from edge.gallery.store import BackendBlock, Gallery


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` random unit embeddings and 300 probes at genuine-pair cosine (~0.7) to some."""
    rng = np.random.default_rng(seed)
    emb = unit(rng.standard_normal((n, 128)))
    src = rng.choice(n, min(n, 300), replace=False)
    probes = unit(emb[src] + rng.standard_normal((len(src), 128)) / np.sqrt(128))
    return emb, probes, src


def test_exact_index_is_exact():
    emb, probes, src = synthetic(2000)
    scores, ids = ExactIndex(emb).search(probes, 5)
    brute = probes @ emb.T
    assert np.array_equal(ids[:, 0], brute.argmax(1))
    assert np.allclose(scores, -np.sort(-brute, axis=1)[:, :5], atol=1e-6)
    assert (ids[:, 0] == src).mean() > 0.99  # probes do find their source


def test_usearch_recall_against_exact():
    emb, probes, _ = synthetic(30_000, seed=1)
    cfg = IndexConfig(exact_max_entries=1000)
    ann = build_index(emb, cfg)
    assert isinstance(ann, UsearchIndex)
    s_ann, i_ann = ann.search(probes, 10)
    s_ex, i_ex = ExactIndex(emb).search(probes, 10)
    recall1 = float((i_ann[:, 0] == i_ex[:, 0]).mean())
    assert recall1 >= 0.99, recall1
    hit = i_ann[:, 0] == i_ex[:, 0]
    assert np.allclose(s_ann[hit, 0], s_ex[hit, 0], atol=1e-4)  # scores are cosines too


def test_small_gallery_uses_exact_search():
    emb, _, _ = synthetic(100)
    assert isinstance(build_index(emb, IndexConfig()), ExactIndex)
    s, i = build_index(emb, IndexConfig()).search(emb[:3], 500)
    assert s.shape == (3, 100) and list(i[:, 0]) == [0, 1, 2]


def gallery_of(vectors: dict[str, list[np.ndarray]]) -> Gallery:
    persons = list(vectors)
    emb = np.stack([v for p in persons for v in vectors[p]])
    labels = np.array([i for i, p in enumerate(persons) for _ in vectors[p]], np.int32)
    block = BackendBlock("ab" * 32, unit(emb), labels, np.array(["x"] * len(labels)))
    return Gallery(persons, {"sface": block})


def test_matcher_threshold_margin_and_fusion():
    rng = np.random.default_rng(5)
    a, b, c = unit(rng.standard_normal((3, 128)))
    cfg = FacesConfig(min_faces_to_decide=2, thresholds={"sface": 0.4, "dlib": 0.9}, margin=0.05)
    g = gallery_of({"A": [a], "B": [b], "C": [c]})
    m = GalleryMatcher(g, "sface", "ab" * 32, cfg)

    def near(v, cos):  # a unit vector with the given cosine to v
        r = unit(rng.standard_normal(128) - (rng.standard_normal(128) @ v) * v)
        r = unit(r - (r @ v) * v)
        return unit(cos * v + np.sqrt(1 - cos**2) * r)

    out = m.match(np.stack([near(a, 0.7), near(a, 0.6)]), np.ones(2))
    assert out.person_id == "A" and abs(out.score - 0.65) < 0.05
    # One lucky frame (looks like A) among poor ones decides nothing.
    out = m.match(np.stack([near(a, 0.9), near(a, 0.1), near(a, 0.1)]), np.ones(3))
    assert out.person_id is None and "threshold" in out.reason
    # The same lucky frame, but it is by far the best-quality face: its weight carries it.
    out = m.match(np.stack([near(a, 0.9), near(a, 0.1)]), np.array([1.0, 0.05]))
    assert out.person_id == "A"
    # Too few faces.
    assert m.match(near(a, 0.9)[None], np.ones(1)).person_id is None

    # Two enrolled people who look alike: best and second are within the margin → null.
    twin = unit(a + 0.01 * rng.standard_normal(128))  # cosine ~0.99 to A
    m2 = GalleryMatcher(gallery_of({"A": [a], "A-twin": [twin]}), "sface", "ab" * 32, cfg)
    probe = np.stack([near(a, 0.7), near(a, 0.7)])
    out = m2.match(probe, np.ones(2))
    assert out.person_id is None and "margin" in out.reason
    assert out.score - out.second_score < cfg.margin


def test_matcher_uses_best_photo_of_a_person():
    rng = np.random.default_rng(6)
    a1, a2, b = unit(rng.standard_normal((3, 128)))
    cfg = FacesConfig(min_faces_to_decide=1)
    m = GalleryMatcher(gallery_of({"A": [a1, a2], "B": [b]}), "sface", "ab" * 32, cfg)
    out = m.match(np.stack([a2]), np.ones(1))
    assert out.person_id == "A" and out.score > 0.999


def test_prebuilt_index_travels_in_the_gallery_file(tmp_path):
    from edge.gallery.index import with_prebuilt_indexes

    emb, probes, _ = synthetic(3000, seed=4)
    cfg = IndexConfig(exact_max_entries=1000)
    g = Gallery(
        [f"p{i}" for i in range(3000)],
        {
            "sface": BackendBlock(
                "ab" * 32, emb, np.arange(3000, dtype=np.int32), np.array(["x"] * 3000)
            )
        },
    )
    g = with_prebuilt_indexes(g, cfg)
    assert g.backends["sface"].index_bytes is not None
    g.save(tmp_path / "g.npz")
    block = Gallery.load(tmp_path / "g.npz").block("sface", "ab" * 32)
    restored = UsearchIndex(block.embeddings, cfg, block.index_bytes)
    assert np.array_equal(restored.to_bytes(), block.index_bytes)  # used, not rebuilt
    exact = ExactIndex(emb).search(probes, 1)[1][:, 0]
    assert float((restored.search(probes, 1)[1][:, 0] == exact).mean()) >= 0.99
    # A prebuilt index of other data (another size) is not trusted: rebuilt instead.
    other = UsearchIndex(emb[:2000], cfg, block.index_bytes)
    assert len(other) == 2000 and int(other.search(emb[1999:2000], 1)[1][0, 0]) == 1999
    # Garbage bytes are not trusted either.
    junk = UsearchIndex(emb, cfg, np.frombuffer(b"not an index" * 10, np.uint8))
    assert float((junk.search(probes, 1)[1][:, 0] == exact).mean()) >= 0.99
