"""``jaywatch gallery build``: real photos accepted, bad ones refused by name."""

from __future__ import annotations

import argparse
import shutil

import cv2
import numpy as np
import pytest

from edge.gallery.cli import register
from edge.gallery.store import Gallery
from tests.edge.faces.helpers import PHOTOS, background, paste, photo


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="jaywatch")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def enrol_dir(tmp_path, people: dict[str, list[str]]):
    root = tmp_path / "photos"
    for pid, names in people.items():
        (root / pid).mkdir(parents=True)
        for n in names:
            shutil.copy(PHOTOS / f"{n}.jpg", root / pid / f"{n}.jpg")
    return root


def test_build_writes_a_versioned_gallery(tmp_path, capsys):
    root = enrol_dir(
        tmp_path, {"p-obama": ["obama", "obama2", "obama_partial_face"], "p-biden": ["biden"]}
    )
    out = tmp_path / "g.npz"
    rc = run(
        [
            "gallery",
            "build",
            str(root),
            "--out",
            str(out),
            "--gallery-version",
            "4",
            "--no-progress",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    g = Gallery.load(out)
    assert g.gallery_version == 4 and sorted(g.persons) == ["p-biden", "p-obama"]
    for name in ("sface", "dlib"):
        b = g.backends[name]
        assert len(b.labels) == 4 and np.allclose(
            np.linalg.norm(b.embeddings, axis=1), 1, atol=1e-5
        )
        assert sorted(b.photos) == sorted(
            f"{p}/{f.name}" for p in g.persons for f in (root / p).iterdir()
        )
    assert "wrote" in capsys.readouterr().out
    assert run(["gallery", "info", str(out)]) == 0
    assert '"gallery_version": 4' in capsys.readouterr().out


def test_bad_photos_refused_with_their_names(tmp_path, capsys):
    root = enrol_dir(tmp_path, {"p-obama": ["obama", "obama2", "obama3", "biden"], "p-x": []})
    # no face: a street background; several faces: two people side by side.
    cv2.imwrite(str(root / "p-x" / "street.jpg"), background())
    group = background().copy()
    paste(group, photo("obama2"), 100, 100, 500)
    paste(group, photo("astronaut"), 700, 100, 500)
    cv2.imwrite(str(root / "p-x" / "group.jpg"), group)
    (root / "p-x" / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "g.npz"
    rc = run(
        ["gallery", "build", str(root), "--out", str(out), "--backend", "sface", "--no-progress"]
    )
    err = capsys.readouterr().err
    assert rc == 1 and not out.exists()
    lines = {
        line.split(": ", 2)[1]: line for line in err.splitlines() if line.startswith("refused:")
    }
    assert set(lines) == {
        str(root / "p-obama" / "biden.jpg"),
        str(root / "p-x" / "street.jpg"),
        str(root / "p-x" / "group.jpg"),
        str(root / "p-x" / "broken.jpg"),
    }
    assert (
        "does not look like the other photos of 'p-obama'"
        in lines[str(root / "p-obama" / "biden.jpg")]
    )
    assert "no face found" in lines[str(root / "p-x" / "street.jpg")]
    assert "2 faces found" in lines[str(root / "p-x" / "group.jpg")]
    assert "cannot be read" in lines[str(root / "p-x" / "broken.jpg")]

    # --skip-bad writes the rest: Obama from his three genuine photos only.
    rc = run(
        [
            "gallery",
            "build",
            str(root),
            "--out",
            str(out),
            "--backend",
            "sface",
            "--skip-bad",
            "--no-progress",
        ]
    )
    assert rc == 0
    g = Gallery.load(out)
    assert g.persons == ["p-obama"] and sorted(g.backends["sface"].photos) == [
        "p-obama/obama.jpg",
        "p-obama/obama2.jpg",
        "p-obama/obama3.jpg",
    ]


def test_small_face_refused(tmp_path, capsys):
    root = tmp_path / "photos" / "p-a"
    root.mkdir(parents=True)
    img = photo("obama3")
    cv2.imwrite(str(root / "tiny.jpg"), cv2.resize(img, (img.shape[1] // 4, img.shape[0] // 4)))
    rc = run(
        [
            "gallery",
            "build",
            str(root.parent),
            "--out",
            str(tmp_path / "g.npz"),
            "--backend",
            "sface",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 1 and f"{root / 'tiny.jpg'}: face is" in err and "at least 64 px" in err


@pytest.mark.parametrize(
    ("layout", "message"),
    [("missing", "not a directory"), ("empty", "no photos found"), ("badid", "person id must be")],
)
def test_bad_layout(tmp_path, capsys, layout, message):
    root = tmp_path / "photos"
    if layout != "missing":
        root.mkdir()
    if layout == "badid":
        (root / "bad id!").mkdir()
    rc = run(["gallery", "build", str(root), "--out", str(tmp_path / "g.npz")])
    assert rc == 2 and message in capsys.readouterr().err


def test_bad_config_named(tmp_path, capsys):
    cfg = tmp_path / "faces.yaml"
    cfg.write_text("faces:\n  thresholds: {sface: 2.0}\n")
    root = enrol_dir(tmp_path, {"p-a": ["obama"]})
    rc = run(
        ["gallery", "build", str(root), "--out", str(tmp_path / "g.npz"), "--config", str(cfg)]
    )
    err = capsys.readouterr().err
    assert rc == 2 and f"{cfg}: faces.thresholds.sface" in err


def test_example_config_is_the_shipped_default():
    from edge.faces.config import FacesConfig
    from edge.gallery.cli import load_faces_config
    from tests.edge.faces.helpers import REPO

    assert load_faces_config(REPO / "config" / "faces.example.yaml") == FacesConfig()
