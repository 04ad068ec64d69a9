"""Measure face matching on the real photos available and degraded copies of them.

    python -m edge.faces.evaluate [--impostor-dir DIR ...] [--plot docs/face-accuracy.png]

Protocol (single face against single enrolled photo — the stage fuses several faces, so
this is the harder case):

* Enrolled: every labelled photo (sample_media/faces/manifest.json) at full resolution.
* Probes: each labelled photo scaled so the face is 24…112 px tall, then degraded (JPEG
  quality 30, Gaussian blur σ=1 px, dark ×0.4, bright ×1.6), and pushed through the
  stage's own path: YuNet inside the "person box" (the whole picture) with the stage's
  upscaling, then the embedder. A face YuNet misses counts as a failure to acquire.
* Genuine pair: probe vs an enrolled photo of the same identity from a *different* original
  photo (``source`` in the manifest; a crop of a photo is not a second photo).
* Impostor pair: probe vs an enrolled photo of another identity; plus, with
  ``--impostor-dir``, every distinct face found in those images (none of the labelled
  people) at every size vs every enrolled photo.

Threshold rule (wrongly fining someone is worse than missing a violator): the larger of
the published operating point of the model and the highest impostor score seen + 0.05.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.faces.config import FacesConfig
from edge.faces.detect import YuNetDetector
from edge.faces.embed import Embedder, make_embedder
from edge.faces.quality import sharpness

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "sample_media" / "faces" / "manifest.json"
SIZES = (24, 32, 40, 48, 64, 80, 112)
CONDITIONS = ("clean", "jpeg30", "blur1", "dark", "bright")
# Published operating points, as cosine of unit vectors: SFace 0.363 (OpenCV Zoo); dlib
# "distance 0.6" on raw vectors of norm ~1.38 (measured here) ≈ 1 - 0.6²/(2·1.38²).
PUBLISHED = {"sface": 0.363, "dlib": 0.905}
SAFETY = 0.05
RELIABLE_FNMR = 0.05


@dataclass
class Photo:
    path: Path
    identity: str
    source: str


@dataclass
class Results:
    backend: str
    genuine: list[tuple[int, str, float]] = field(default_factory=list)  # (size, cond, score)
    impostor: list[tuple[int, str, float]] = field(default_factory=list)
    acquired: dict[tuple[int, str], list[bool]] = field(default_factory=dict)
    sharpness: dict[str, list[float]] = field(default_factory=dict)  # condition -> values


def load_manifest(path: Path = MANIFEST) -> list[Photo]:
    data = json.loads(path.read_text())
    return [Photo(path.parent / p["file"], p["identity"], p["source"]) for p in data["photos"]]


def degrade(img: np.ndarray, cond: str) -> np.ndarray:
    if cond == "clean":
        return img
    if cond == "jpeg30":
        _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 30])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if cond == "blur1":
        return cv2.GaussianBlur(img, (0, 0), 1.0)
    if cond == "dark":
        return cv2.convertScaleAbs(img, alpha=0.4)
    if cond == "bright":
        return cv2.convertScaleAbs(img, alpha=1.6)
    raise ValueError(cond)


def largest_face(detector: YuNetDetector, img: np.ndarray, score: float, upscale: float):
    h, w = img.shape[:2]
    faces = detector.detect_in_box(img, np.array([0, 0, w, h], np.float32), score, upscale, pad=0.0)
    if len(faces) == 0:
        return None
    i = int(np.argmax(faces.xywh[:, 2] * faces.xywh[:, 3]))
    return faces.xywh[i], faces.landmarks[i]


def scaled_to_face(img: np.ndarray, face_h: float, target: int) -> np.ndarray:
    s = target / face_h
    return cv2.resize(
        img,
        (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))),
        interpolation=cv2.INTER_AREA,
    )


def impostor_faces(
    detector: YuNetDetector, dirs: Iterable[Path], sface: Embedder, exclude: set[str] = frozenset()
) -> list[tuple[np.ndarray, float]]:
    """Distinct faces (≥ 48 px, score ≥ 0.8) from unlabelled images, as (image, face_h).

    Near-duplicates (the same picture reused in several files: cosine > 0.8 to one already
    kept) are dropped so one person does not count many times.
    """
    kept: list[tuple[np.ndarray, float]] = []
    vecs: list[np.ndarray] = []
    files = sorted(
        f
        for d in dirs
        for f in d.rglob("*")
        if f.suffix.lower() in {".jpg", ".jpeg", ".png"} and f.name not in exclude
    )
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            continue
        faces = detector.detect(img, 0.8)
        for xywh, lm in zip(faces.xywh, faces.landmarks, strict=True):
            if min(xywh[2:]) < 48:
                continue
            v = sface.embed(img, xywh, lm)
            if vecs and float(np.max(np.stack(vecs) @ v)) > 0.8:
                continue
            vecs.append(v)
            x, y, w, h = xywh
            x1, y1 = max(0, int(x - w)), max(0, int(y - 0.6 * h))
            x2, y2 = min(img.shape[1], int(x + 2 * w)), min(img.shape[0], int(y + 2 * h))
            kept.append((img[y1:y2, x1:x2].copy(), float(h)))
    return kept


def evaluate(
    backends: list[str],
    impostor_dirs: list[Path],
    cfg: FacesConfig,
    sizes: tuple[int, ...] = SIZES,
    progress: bool = False,
    exclude: set[str] = frozenset(),
) -> tuple[dict[str, Results], int]:
    from tqdm import tqdm

    detector = YuNetDetector(cfg.detector_model, cfg.threads)
    embedders = {b: make_embedder(b, cfg.sface_model, cfg.threads) for b in backends}
    photos = load_manifest()
    images = [cv2.imread(str(p.path), cv2.IMREAD_COLOR) for p in photos]
    found = [largest_face(detector, img, cfg.detector_score, 1.0) for img in images]
    if any(f is None for f in found):
        raise RuntimeError("a labelled photo has no detectable face")
    face_h = [float(f[0][3]) for f in found]  # type: ignore[index]
    enrolled = {
        b: np.stack([e.embed(img, *f) for img, f in zip(images, found, strict=True)])  # type: ignore[misc]
        for b, e in embedders.items()
    }
    ident = np.array([p.identity for p in photos])
    source = np.array([p.source for p in photos])
    extra = (
        impostor_faces(
            detector, impostor_dirs, embedders.get("sface") or make_embedder("sface"), exclude
        )
        if impostor_dirs
        else []
    )

    results = {b: Results(b) for b in backends}
    jobs = [(i, s, c) for i in range(len(photos)) for s in sizes for c in CONDITIONS]
    jobs += [(-1 - j, s, "clean") for j in range(len(extra)) for s in sizes]
    for i, size, cond in tqdm(jobs, desc="probes", disable=not progress):
        base, fh = (images[i], face_h[i]) if i >= 0 else extra[-1 - i]
        probe = degrade(scaled_to_face(base, fh, size), cond)
        face = largest_face(detector, probe, cfg.detector_score, cfg.detect_max_upscale)
        for b, e in embedders.items():
            r = results[b]
            if i >= 0:
                r.acquired.setdefault((size, cond), []).append(face is not None)
                if face is not None:
                    r.sharpness.setdefault(cond, []).append(sharpness(probe, face[0]))
            if face is None:
                if i >= 0:  # a genuine probe not acquired: no score, counted in FNMR
                    n = int(np.sum((ident == ident[i]) & (source != source[i])))
                    r.genuine.extend([(size, cond, float("nan"))] * n)
                continue
            sims = enrolled[b] @ e.embed(probe, *face)
            if i >= 0:
                for j in range(len(photos)):
                    if ident[j] == ident[i] and source[j] != source[i]:
                        r.genuine.append((size, cond, float(sims[j])))
                    elif ident[j] != ident[i]:
                        r.impostor.append((size, cond, float(sims[j])))
            else:
                r.impostor.extend((size, cond, float(s)) for s in sims)
    return results, len(extra)


def _arr(rows: list[tuple[int, str, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not rows:
        return np.zeros(0, int), np.zeros(0, str), np.zeros(0)
    s, c, v = zip(*rows, strict=True)
    return np.array(s), np.array(c), np.array(v, float)


def choose(r: Results, sizes: tuple[int, ...] = SIZES) -> tuple[int | None, float]:
    """Smallest minimum face size whose threshold keeps FNMR ≤ 5% at every size above it.

    For each candidate minimum size s (faces below it are refused by the quality gate):
    threshold(s) = max(published point, highest impostor score at sizes ≥ s + 0.05).
    """
    gs, _, gv = _arr(r.genuine)
    is_, _, iv = _arr(r.impostor)
    best: tuple[int | None, float] = (None, float("nan"))
    for s in sorted(sizes, reverse=True):
        imp = iv[is_ >= s]
        thr = round(max(PUBLISHED[r.backend], (float(imp.max()) if len(imp) else -1.0) + SAFETY), 2)
        ok = all(np.mean(~(gv[gs == x] >= thr)) <= RELIABLE_FNMR for x in sizes if x >= s)
        if not ok:
            break
        best = (s, thr)
    return best


def summarise(r: Results, sizes: tuple[int, ...] = SIZES) -> dict:
    gs, gc, gv = _arr(r.genuine)
    is_, _, iv = _arr(r.impostor)
    reliable, threshold = choose(r, sizes)
    if reliable is None:  # nothing reliable: report at the rule's all-sizes threshold
        threshold = round(max(PUBLISHED[r.backend], float(np.nanmax(iv)) + SAFETY), 2)

    def fnmr(mask: np.ndarray) -> float:
        v = gv[mask]
        return float(np.mean(~(v >= threshold))) if len(v) else float("nan")  # nan = not acquired

    def fmr(mask: np.ndarray) -> float:
        v = iv[mask]
        return float(np.mean(v >= threshold)) if len(v) else float("nan")

    per_size = {}
    for s in sizes:
        g = gv[gs == s]
        per_size[s] = {
            "fnmr_all": fnmr(gs == s),
            "fnmr_clean": fnmr((gs == s) & (gc == "clean")),
            "fmr": fmr(is_ == s),
            "impostor_max": float(np.max(iv[is_ == s])) if (is_ == s).any() else float("nan"),
            "acquired": float(np.mean([a for c in CONDITIONS for a in r.acquired.get((s, c), [])])),
            "genuine_median": float(np.nanmedian(g)) if np.isfinite(g).any() else float("nan"),
        }
    fin = gv[np.isfinite(gv)]
    above = gs >= (reliable or max(sizes) + 1)
    return {
        "backend": r.backend,
        "threshold": threshold,
        "published": PUBLISHED[r.backend],
        "smallest_reliable_face_px": reliable,
        "genuine": {"n": len(gv), "acquired": len(fin), **_stats(fin)},
        "impostor": {"n": len(iv), **_stats(iv)},
        "fmr": fmr(np.ones(len(iv), bool)),
        "fnmr": fnmr(np.ones(len(gv), bool)),
        "fmr_ge_reliable": fmr(is_ >= (reliable or max(sizes) + 1)),
        "fnmr_ge_reliable": fnmr(above),
        "per_size": per_size,
        "per_condition_fnmr": {c: fnmr(gc == c) for c in CONDITIONS},
        "sharpness_median": {c: round(float(np.median(v)), 1) for c, v in r.sharpness.items()},
        "sharpness_min": {c: round(float(np.min(v)), 1) for c, v in r.sharpness.items()},
    }


def _stats(v: np.ndarray) -> dict:
    if len(v) == 0:
        return {}
    q = np.percentile(v, [0, 1, 5, 50, 95, 99, 100])
    return dict(
        zip(
            ("min", "p1", "p5", "median", "p95", "p99", "max"),
            (round(float(x), 3) for x in q),
            strict=True,
        )
    )


def plot(results: dict[str, Results], summaries: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(6 * len(results), 8), squeeze=False)
    for k, (b, r) in enumerate(results.items()):
        s = summaries[b]
        _, _, gv = _arr(r.genuine)
        _, _, iv = _arr(r.impostor)
        ax = axes[0][k]
        lo = min(np.nanmin(iv), np.nanmin(gv)) - 0.02
        bins = np.linspace(lo, min(1.0, max(np.nanmax(gv), np.nanmax(iv)) + 0.02), 60)
        ax.hist(
            iv, bins=bins, alpha=0.6, density=True, label=f"impostor (n={len(iv)})", color="tab:red"
        )
        ax.hist(
            gv[np.isfinite(gv)],
            bins=bins,
            alpha=0.6,
            density=True,
            label=f"genuine (n={np.isfinite(gv).sum()})",
            color="tab:green",
        )
        ax.axvline(s["threshold"], color="k", ls="--", label=f"threshold {s['threshold']:.2f}")
        ax.set_title(f"{b}: cosine similarity, all sizes and conditions")
        ax.set_xlabel("cosine similarity")
        ax.legend(fontsize=8)
        ax = axes[1][k]
        sizes = sorted(s["per_size"])
        ax.plot(
            sizes,
            [s["per_size"][x]["fnmr_all"] for x in sizes],
            "o-",
            label="FNMR (all conditions)",
        )
        ax.plot(sizes, [s["per_size"][x]["fnmr_clean"] for x in sizes], "s--", label="FNMR (clean)")
        ax.plot(sizes, [s["per_size"][x]["fmr"] for x in sizes], "^-", label="FMR")
        ax.plot(
            sizes,
            [1 - s["per_size"][x]["acquired"] for x in sizes],
            "x:",
            label="face not detected",
        )
        ax.set_xlabel("face height in probe (px)")
        ax.set_ylabel("rate")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{b}: error rates vs face size (single face)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def markdown(summaries: dict[str, dict], n_extra: int) -> str:
    nan = float("nan")
    out = [f"Impostor faces from --impostor-dir: {n_extra}", ""]
    out.append(
        "| backend | smallest reliable face | threshold | genuine pairs | genuine p5 / median "
        "| impostor pairs | impostor max | FMR / FNMR (≥ reliable size) | FMR / FNMR (all sizes) |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|")
    for b, s in summaries.items():
        g, i = s["genuine"], s["impostor"]
        out.append(
            f"| {b} | {s['smallest_reliable_face_px']} px | {s['threshold']:.2f} | {g['n']} "
            f"| {g.get('p5', nan):.3f} / {g.get('median', nan):.3f} | {i['n']} "
            f"| {i.get('max', nan):.3f} | {s['fmr_ge_reliable']:.4f} / {s['fnmr_ge_reliable']:.3f} "
            f"| {s['fmr']:.4f} / {s['fnmr']:.3f} |"
        )
    for b, s in summaries.items():
        out += ["", f"**{b}** by face height (single face, threshold {s['threshold']:.2f}):", ""]
        out.append(
            "| face px | detected | genuine median | impostor max | FNMR clean | FNMR all | FMR |"
        )
        out.append("|---|---|---|---|---|---|---|")
        for size, p in sorted(s["per_size"].items()):
            out.append(
                f"| {size} | {p['acquired']:.2f} | {p['genuine_median']:.3f} "
                f"| {p['impostor_max']:.3f} | {p['fnmr_clean']:.2f} | {p['fnmr_all']:.2f} "
                f"| {p['fmr']:.4f} |"
            )
        cond = ", ".join(f"{c} {v:.2f}" for c, v in s["per_condition_fnmr"].items())
        sharp = ", ".join(f"{c} {v}" for c, v in s["sharpness_median"].items())
        smin = ", ".join(f"{c} {v}" for c, v in s["sharpness_min"].items())
        out += [
            "",
            f"FNMR by condition (all sizes): {cond}",
            "",
            f"Face sharpness (variance of Laplacian at 64 px) median: {sharp}; min: {smin}",
        ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m edge.faces.evaluate", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--backend", action="append", choices=["sface", "dlib"], help="default: both")
    ap.add_argument(
        "--impostor-dir",
        action="append",
        type=Path,
        default=[],
        help="unlabelled images whose faces are none of the labelled people",
    )
    ap.add_argument(
        "--impostor-exclude",
        action="append",
        default=[],
        metavar="FILENAME",
        help="a file in --impostor-dir checked by eye to show a labelled person (not an impostor)",
    )
    ap.add_argument("--plot", type=Path, default=REPO / "docs" / "face-accuracy.png")
    ap.add_argument("--json", type=Path, help="also write the summary as JSON here")
    args = ap.parse_args(argv)
    backends = list(dict.fromkeys(args.backend or ["sface", "dlib"]))
    dirs = [d for d in args.impostor_dir if d.is_dir()]
    for d in set(args.impostor_dir) - set(dirs):
        print(f"warning: {d}: not a directory, skipped", file=sys.stderr)
    results, n_extra = evaluate(
        backends,
        dirs,
        FacesConfig(),
        progress=sys.stderr.isatty(),
        exclude=set(args.impostor_exclude),
    )
    summaries = {b: summarise(r) for b, r in results.items()}
    plot(results, summaries, args.plot)
    print(markdown(summaries, n_extra))
    print(f"\nplot: {args.plot}")
    if args.json:
        args.json.write_text(json.dumps(summaries, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
