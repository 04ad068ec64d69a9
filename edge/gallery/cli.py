"""``jaywatch gallery build|info``: enrol people from photos; show a gallery's header."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("gallery", help="enrolled-person gallery (build, info)")
    sub = p.add_subparsers(dest="gallery_command", required=True, metavar="ACTION")

    b = sub.add_parser("build", help="build a gallery file from PHOTOS_DIR/<person_id>/*.jpg")
    b.add_argument("photos_dir", type=Path, metavar="PHOTOS_DIR")
    b.add_argument(
        "--out", type=Path, required=True, metavar="GALLERY", help="gallery file to write (.npz)"
    )
    b.add_argument(
        "--backend",
        action="append",
        choices=["sface", "dlib"],
        help="embedding backend (repeatable); default: every backend",
    )
    b.add_argument(
        "--config", type=Path, help="YAML file with a FacesConfig mapping (thresholds, models)"
    )
    b.add_argument(
        "--gallery-version", type=int, default=1, help="version number stored in the file"
    )
    b.add_argument(
        "--skip-bad", action="store_true", help="write the gallery without the refused photos"
    )
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=_build)

    i = sub.add_parser("info", help="print a gallery file's header as JSON")
    i.add_argument("gallery", type=Path, metavar="GALLERY")
    i.set_defaults(func=_info)


def load_faces_config(path: Path | None):  # -> FacesConfig
    """A faces YAML (config/faces.example.yaml: the camera file's ``faces:`` section, or
    its contents at the top level)."""
    from edge.faces.config import FacesConfig, FacesFile
    from jaywatch.config_file import load_yaml_mapping, validate_config

    if path is None:
        return FacesConfig()
    data = load_yaml_mapping(path)
    if "faces" in data:
        return validate_config(FacesFile, data, path).faces
    return validate_config(FacesConfig, data, path)


def _build(args: argparse.Namespace) -> int:
    from edge.config import ConfigError
    from edge.faces.detect import YuNetDetector
    from edge.faces.embed import make_embedder
    from edge.gallery.build import build_gallery, list_photos

    try:
        cfg = load_faces_config(args.config)
        pairs = list_photos(args.photos_dir)
        backends = list(dict.fromkeys(args.backend or ["sface", "dlib"]))
        embedders = {b: make_embedder(b, cfg.sface_model, cfg.threads) for b in backends}
        detector = YuNetDetector(cfg.detector_model, cfg.threads)
    except (ConfigError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    progress = not args.no_progress and sys.stderr.isatty()
    res = build_gallery(pairs, embedders, cfg, detector, args.gallery_version, progress)
    for p in res.problems:
        print(f"refused: {p}", file=sys.stderr)
    if res.gallery is None:
        print("error: no photo was accepted; nothing written", file=sys.stderr)
        return 1
    if res.problems and not args.skip_bad:
        print(
            f"error: {len(res.problems)} photo(s) refused; "
            "fix them or pass --skip-bad; nothing written",
            file=sys.stderr,
        )
        return 1
    res.gallery.save(args.out)
    print(
        f"wrote {args.out}: {len(res.gallery.persons)} person(s), {res.accepted} photo(s), "
        f"backends {', '.join(backends)}, gallery_version {res.gallery.gallery_version}"
    )
    return 0


def _info(args: argparse.Namespace) -> int:
    from edge.gallery.store import Gallery, GalleryError

    try:
        g = Gallery.load(args.gallery)
    except GalleryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(g.header(), indent=2))
    return 0
