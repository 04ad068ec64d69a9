"""Gallery file: round trip, version and model checks, corrupt files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from edge.gallery.store import FORMAT_VERSION, BackendBlock, Gallery, GalleryError


def small_gallery() -> Gallery:
    rng = np.random.default_rng(3)
    emb = rng.standard_normal((5, 128)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    block = BackendBlock(
        "ab" * 32,
        emb,
        np.array([0, 0, 1, 2, 2], np.int32),
        np.array([f"x/{i}.jpg" for i in range(5)]),
    )
    return Gallery(["p1", "p2", "p3"], {"sface": block}, gallery_version=7)


def test_round_trip(tmp_path):
    g = small_gallery()
    path = tmp_path / "g.npz"
    g.save(path)
    back = Gallery.load(path)
    assert back.header() == g.header()
    assert back.persons == ["p1", "p2", "p3"] and back.gallery_version == 7
    b, orig = back.block("sface", "ab" * 32), g.backends["sface"]
    assert np.array_equal(b.embeddings, orig.embeddings)
    assert np.array_equal(b.labels, orig.labels)
    assert list(b.photos) == list(orig.photos)
    assert not list(tmp_path.glob("*.tmp"))  # atomic write leaves no temp file


def test_header_alone_is_read_and_checked():
    g = small_gallery()
    assert Gallery.read_header(g.to_bytes()) == g.header()
    with pytest.raises(GalleryError, match=r"^upload\.npz: not a readable gallery"):
        Gallery.read_header(b"not a zip", "upload.npz")


def test_real_gallery_round_trip(tmp_path, gallery_with_obama):
    path = tmp_path / "real.npz"
    gallery_with_obama.save(path)
    back = Gallery.load(path)
    hdr = back.header()
    assert set(hdr["backends"]) == {"sface", "dlib"}
    assert hdr["format_version"] == FORMAT_VERSION and hdr["created"] == gallery_with_obama.created
    for meta in hdr["backends"].values():
        assert len(meta["model_sha256"]) == 64 and meta["dim"] == 128 and meta["entries"] == 4


def _rewrite_header(path, change) -> None:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["header"].tobytes())
    change(header)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(path, **arrays)


def test_unsupported_format_version(tmp_path):
    path = tmp_path / "g.npz"
    small_gallery().save(path)
    _rewrite_header(path, lambda h: h.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(GalleryError, match=rf"{path}: gallery format_version {FORMAT_VERSION + 1}"):
        Gallery.load(path)


def test_not_a_gallery(tmp_path):
    path = tmp_path / "g.npz"
    small_gallery().save(path)
    _rewrite_header(path, lambda h: h.update(format="something-else"))
    with pytest.raises(GalleryError, match="not a jaywatch gallery"):
        Gallery.load(path)


def test_inconsistent_entries(tmp_path):
    path = tmp_path / "g.npz"
    small_gallery().save(path)
    _rewrite_header(path, lambda h: h["backends"]["sface"].update(entries=99))
    with pytest.raises(GalleryError, match="differ in length"):
        Gallery.load(path)


@pytest.mark.parametrize("damage", ["truncate", "flip", "text"])
def test_corrupt_file(tmp_path, damage):
    path = tmp_path / "g.npz"
    small_gallery().save(path)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":  # inside the embeddings: zip CRC catches it
        with zipfile.ZipFile(path) as z:
            info = z.getinfo("sface.embeddings.npy")
        pos = info.header_offset + 30 + len(info.filename) + 200
        data[pos] ^= 0xFF
    else:
        data = bytearray(b"hello, not a zip")
    path.write_bytes(bytes(data))
    with pytest.raises(GalleryError, match=str(path)):
        Gallery.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(GalleryError, match="not found"):
        Gallery.load(tmp_path / "nope.npz")


def test_model_and_backend_mismatch_refused():
    g = small_gallery()
    with pytest.raises(GalleryError, match=r"^gallery: .*different models cannot be compared"):
        g.block("sface", "cd" * 32)
    with pytest.raises(GalleryError, match="no embeddings for backend 'dlib'"):
        g.block("dlib", "ab" * 32)


def test_loaded_gallery_errors_name_the_file(tmp_path):
    path = tmp_path / "g.npz"
    small_gallery().save(path)
    with pytest.raises(GalleryError, match=f"^{path}: backend 'sface' was built with model"):
        Gallery.load(path).block("sface", "cd" * 32)
