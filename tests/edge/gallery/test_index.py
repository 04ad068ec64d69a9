"""Search: the approximate index agrees with exact search; matcher threshold and margin."""

from __future__ import annotations

import numpy as np

from edge.faces.config import FacesConfig, IndexConfig
from edge.faces.match import GalleryMatcher
from edge.gallery.index import ExactIndex, LshIndex, build_index
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


def test_lsh_recall_against_exact():
    emb, probes, _ = synthetic(30_000, seed=1)
    cfg = IndexConfig(exact_max_entries=1000)
    ann = build_index(emb, cfg)
    assert isinstance(ann, LshIndex)
    s_ann, i_ann = ann.search(probes, 10)
    s_ex, i_ex = ExactIndex(emb).search(probes, 10)
    recall1 = float((i_ann[:, 0] == i_ex[:, 0]).mean())
    assert recall1 >= 0.99, recall1
    # Candidates are re-scored exactly: the scores are the true cosines of the ids returned,
    # sorted best first.
    true = np.einsum("qd,qkd->qk", probes, emb[i_ann])
    assert np.allclose(s_ann, true, atol=1e-5)
    assert (np.diff(s_ann, axis=1) <= 1e-6).all()
    hit = i_ann[:, 0] == i_ex[:, 0]
    assert np.allclose(s_ann[hit, 0], s_ex[hit, 0], atol=1e-5)


def test_lsh_edges_k_above_n_and_empty():
    emb, _, _ = synthetic(50, seed=2)
    cfg = IndexConfig(exact_max_entries=0, rerank=1)
    ann = LshIndex(emb, cfg)
    s, i = ann.search(emb[:2], 80)  # more wanted than there are: all 50, each once
    assert s.shape == i.shape == (2, 50)
    assert sorted(i[0].tolist()) == list(range(50)) and i[0, 0] == 0
    s, i = LshIndex(emb[:0], cfg).search(emb[:1], 5)
    assert s.shape == i.shape == (1, 0)


def test_fewer_bits_estimate_angles_more_coarsely():
    """The knob does what it says: at 128 bits the code scan alone (rerank 1) ranks the
    true neighbour first less often than at 512 bits."""
    emb, probes, _ = synthetic(30_000, seed=3)
    exact = ExactIndex(emb).search(probes, 1)[1][:, 0]
    rec = {
        bits: float(
            (
                LshIndex(emb, IndexConfig(bits=bits, rerank=1)).search(probes, 1)[1][:, 0] == exact
            ).mean()
        )
        for bits in (128, 512)
    }
    assert rec[128] < rec[512], rec


def test_index_docstring_example_runs():
    import doctest

    import edge.gallery.index as mod

    res = doctest.testmod(mod)
    assert res.attempted >= 3 and res.failed == 0


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


def test_old_gallery_file_with_a_prebuilt_index_loads_and_ignores_it(tmp_path):
    """Files written before the switch to the code scan carry ``<backend>.usearch``."""
    import zipfile

    emb, probes, _ = synthetic(3000, seed=4)
    g = Gallery(
        [f"p{i}" for i in range(3000)],
        {
            "sface": BackendBlock(
                "ab" * 32, emb, np.arange(3000, dtype=np.int32), np.array(["x"] * 3000)
            )
        },
    )
    path = tmp_path / "g.npz"
    g.save(path)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("sface.usearch.npy", b"an old serialised index")
    block = Gallery.load(path).block("sface", "ab" * 32)
    assert np.array_equal(block.embeddings, emb)
    ann = build_index(block.embeddings, IndexConfig(exact_max_entries=1000))
    exact = ExactIndex(emb).search(probes, 1)[1][:, 0]
    assert float((ann.search(probes, 1)[1][:, 0] == exact).mean()) >= 0.99
