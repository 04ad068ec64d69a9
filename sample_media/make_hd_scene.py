"""Build scenes/hd_crossing and hd_crossing_dusk: a 1920x1080 camera with small pedestrians.

Intersection cameras stream 1080p with people 50-150 px tall, and a detector that sees a
300x300 squeeze of a wide carriageway shrinks a 55-px person at the far kerb to ~15 px.
These scenes hold such people, with exact ground truth, so that recall can be measured
per size band (issue 18).

Real parts, synthetic arrangement, as in make_synthetic_scene.py: the background is the
median of vtest.avi scaled 1.875x to 1440x1080, widened to 1920 by mirroring its left
third (the road band runs on across the mirrored part); the people are real pedestrians
cut out of vtest.avi (a walking cycle each), drawn **smaller than the background's own
scale** — 55 px at the far kerb, ~80 px at the near kerb, up to ~150 px on the grass in
front — as a wider-angle camera would see them, walking scripted paths, partly in groups
that occlude each other. The signal head is drawn. The dusk variant is the day video
darkened, tinted blue and with sensor noise (tools/dusk.py); being noise it compresses
badly (30+ MB), so its video is not stored but made from the day video on demand
(``--dusk-only``, which needs no vtest.avi), as the tests and the bench do.

Besides ground_truth.json each scene has boxes.json: every walker's drawn box in every
frame, whether it is cut by the frame edge, and how much of it nearer walkers cover.

Run from the repository root: ``python sample_media/make_hd_scene.py [--dusk-only]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_synthetic_scene as synthetic  # noqa: E402
import make_vtest_scene as vtest  # noqa: E402
from tools import dusk  # noqa: E402
from tools.cases import classify_feet  # noqa: E402
from tools.contact_sheet import write_contact_sheet  # noqa: E402
from tools.scene_files import (  # noqa: E402
    Camera,
    NonViolation,
    Scene,
    Violation,
    write_camera_yaml,
    write_ground_truth,
)
from tools.schedule import Schedule  # noqa: E402
from tools.signal_head import HeadColours, composite, draw_pole, render  # noqa: E402
from tools.sprites import Sprite, median_background, place  # noqa: E402
from tools.video import VideoSink, read_frames  # noqa: E402
from tools.walkers import Perspective, Walker  # noqa: E402

FPS = 10.0
FRAMES = 300
SIZE = (1920, 1080)
GRACE_S = 0.5
SCALE = 1080 / 576  # vtest.avi rows -> 1080
PAD = SIZE[0] - round(768 * SCALE)  # 480 px of mirrored background on the left
# Person height: 55 px at the far kerb (y 370), 150 px at y 900 on the grass in front.
PERSPECTIVE = Perspective(a=95 / 530, b=55 - 370 * 95 / 530)
ROI = (1376, 120, 36, 72)  # head on a drawn pole beside the road's right end
POLE = (1420, 130, 420)
SCHEDULE = Schedule.of(
    (0.0, 5.0, "green"), (5.0, 17.0, "red"), (17.0, 22.0, "green"), (22.0, 30.0, "red")
)


def _hd(x: float, y: float) -> tuple[float, float]:
    return (round(PAD + x * SCALE, 1), round(y * SCALE, 1))


def _mirrored(x: float, y: float) -> tuple[float, float]:
    return (round(PAD - x * SCALE, 1), round(y * SCALE, 1))


# The road band between the upper car park (kerb with cones) and the grass, vtest.avi
# pixels x 0..400, continued through the mirrored left part (hand-traced on the median).
_TOP = [(0, 191), (140, 198), (260, 208), (400, 214)]
_BOTTOM = [(400, 318), (300, 290), (200, 270), (150, 260), (60, 245), (0, 240)]
_MIRROR_X = 250  # the zone runs this far into the mirrored part
ZONE = (
    [_mirrored(_MIRROR_X, 197)]
    + [_hd(x, y) for x, y in _TOP]
    + [_hd(x, y) for x, y in _BOTTOM]
    + [_mirrored(60, 245), _mirrored(_MIRROR_X, 262)]
)
DAY, DUSK = "hd_crossing", "hd_crossing_dusk"
DETECTOR = {"region": "auto", "tiling": {"mode": "auto", "far_person_px": 55, "near_person_px": 97}}


def inside(p: tuple[float, float]) -> bool:
    return cv2.pointPolygonTest(np.array(ZONE, np.float32), p, False) > 0


def zone_distance(p: tuple[float, float]) -> float:
    return cv2.pointPolygonTest(np.array(ZONE, np.float32), p, True)


def background(source_frames: list[np.ndarray]) -> np.ndarray:
    med = median_background(source_frames[::8])
    big = cv2.resize(med, (round(768 * SCALE), SIZE[1]), interpolation=cv2.INTER_CUBIC)
    left = big[:, 1 : PAD + 1][:, ::-1]
    return np.ascontiguousarray(np.concatenate([left, big], axis=1))


def timed(w: Walker, entry_frame: int) -> Walker:
    """Shift ``w`` in time so its feet are first inside the zone at ``entry_frame``."""
    tc = w.first_time_inside(inside, PERSPECTIVE)
    if tc is None:
        raise ValueError(f"{w.id}: path never enters the zone")
    return replace(w, t_start=entry_frame / FPS - tc - 0.03)


def _cross_down(x_top: float, x_bottom: float) -> tuple[tuple[float, float], ...]:
    """From the upper car park down across the road to the grass in front."""
    return ((x_top, 250.0), (x_top + 0.3 * (x_bottom - x_top), 380.0), (x_bottom, 1120.0))


def _cross_up(x_bottom: float, x_top: float) -> tuple[tuple[float, float], ...]:
    return tuple(reversed(_cross_down(x_top, x_bottom)))


def script(s: dict[str, Sprite]) -> list[Walker]:
    """The cast; the case each walker shows is checked against EXPECTED by build()."""
    return [
        timed(Walker("G", s["black_coat_back"], _cross_down(700, 760), 0), 15),
        timed(Walker("V1", s["red_jacket_back"], _cross_down(1000, 1060), 0), 70),
        # A pair from the grass, side by side, the second partly behind the first.
        timed(Walker("P1", s["grey_jacket_back_b"], _cross_up(560, 600), 0), 90),
        timed(Walker("P2", s["black_coat_side"], _cross_up(610, 655), 0), 91),
        # A group of three from the car park at the far kerb (~55 px), overlapping.
        timed(Walker("T1", s["grey_jacket_back"], _cross_down(250, 300), 0), 120),
        timed(Walker("T2", s["black_coat_back"], _cross_down(282, 335), 0), 121),
        timed(Walker("T3", s["red_jacket_back"], _cross_down(318, 372), 0), 122),
        Walker("S", s["bald_grey_side"], ((-80.0, 760.0), (2000.0, 700.0)), 3.0),
        Walker("K", s["black_coat_front_standing"], ((1500.0, 300.0),), 2.0, 28.0),
        timed(Walker("C", s["grey_jacket_back_b"], _cross_down(1150, 1200), 0), 200),
        timed(Walker("Q", s["black_coat_side"], _cross_up(900, 860), 0), 221),
        timed(Walker("V2", s["grey_jacket_back"], _cross_up(1100, 1020), 0), 250),
        timed(Walker("V3", s["red_jacket_back"], _cross_down(160, 210), 0), 270),
    ]


EXPECTED = {
    "G": "green_crossing",
    "V1": "violation",
    "P1": "violation_group",
    "P2": "violation_group",
    "T1": "violation_group",
    "T2": "violation_group",
    "T3": "violation_group",
    "S": "sidewalk_only",
    "K": "sidewalk_only",
    "C": "clearance",
    "Q": "within_grace",
    "V2": "violation",
    "V3": "violation",
}


def covered_fraction(box: tuple[float, ...], nearer: list[tuple[float, ...]]) -> float:
    """Share of ``box`` hidden behind the boxes of walkers drawn after (in front of) it."""
    x0, y0, x1, y1 = (round(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        return 1.0
    mask = np.zeros((y1 - y0, x1 - x0), bool)
    for b in nearer:
        a0, b0 = max(x0, round(b[0])) - x0, max(y0, round(b[1])) - y0
        a1, b1 = min(x1, round(b[2])) - x0, min(y1, round(b[3])) - y0
        if a1 > a0 and b1 > b0:
            mask[b0:b1, a0:a1] = True
    return float(mask.mean())


def render_frames(walkers: list[Walker], bg: np.ndarray):
    """Yield (frame index, BGR frame, [{id, box, full, covered}]) for the whole video."""
    heads = {p: render(p, ROI[2:], HeadColours()) for p in ("red", "green")}
    for i in range(FRAMES):
        t = i / FPS
        frame = bg.copy()
        draw_pole(frame, ROI, *POLE)
        drawn = []
        visible = [(w, w.foot_at(t, PERSPECTIVE)) for w in walkers]
        for w, foot in sorted((v for v in visible if v[1] is not None), key=lambda v: v[1][1]):
            sf = w.sprite.frames[i % len(w.sprite.frames)]
            dx = w.heading_dx(t, PERSPECTIVE)
            flip = (
                abs(dx) > 0.5
                and np.sign(dx) != np.sign(w.sprite.source_dx)
                and abs(w.sprite.source_dx) > 5
            )
            box = place(frame, sf, foot, PERSPECTIVE.height(foot[1]), bool(flip))
            full = box[2] - box[0] > 0 and foot[1] <= SIZE[1] and box[1] > 0
            full = full and abs((box[0] + box[2]) / 2 - foot[0]) < 1.0 and box[3] >= foot[1] - 1
            drawn.append({"id": w.id, "box": [round(v, 1) for v in box], "full": bool(full)})
        for k, d in enumerate(drawn):  # later = nearer the camera = in front
            d["covered"] = round(covered_fraction(d["box"], [e["box"] for e in drawn[k + 1 :]]), 3)
        composite(frame, ROI, heads[SCHEDULE.phase_at(t)])
        yield i, frame, drawn


def describe(w: Walker, case: str, info: dict) -> Violation | NonViolation:
    foot = tuple(round(v, 1) for v in info["foot"]) if "foot" in info else None
    if case == "violation":
        note = f"sprite {w.sprite.name}, {PERSPECTIVE.height(info['foot'][1]):.0f} px tall"
        if EXPECTED[w.id] == "violation_group":
            note += "; enters in a group, partly occluded"
        return Violation(
            w.id,
            round(info["entry"] / FPS, 2),
            info["entry"],
            foot,
            EXPECTED[w.id],
            round(info["red_for"], 2),
            note,
        )
    if case == "clearance":
        r = info["red_frame"][0]
        why = f"enters on green, still in the zone when red begins at {r / FPS:.1f} s"
        return NonViolation(w.id, case, why, r, tuple(round(v, 1) for v in info["feet"][r]))
    if case in ("green_crossing", "within_grace"):
        what = (
            "enters on green"
            if case == "green_crossing"
            else f"enters {info['red_for']:.2f} s after red began, within grace"
        )
        return NonViolation(w.id, case, what, info["entry"], foot)
    feet = info["feet"]
    k = max((i for i in range(FRAMES) if feet[i] is not None), key=lambda i: zone_distance(feet[i]))
    why = f"never enters (closest {info['min_outside_px']:.0f} px from the zone)"
    return NonViolation(w.id, "sidewalk_only", why, k, tuple(round(v, 1) for v in feet[k]))


def build(source: Path, out_root: Path) -> dict:
    """The day scene, rendered from vtest.avi (needs Debian's opencv-doc)."""
    source_frames = list(read_frames(source))
    walkers = script(synthetic.load_sprites(source_frames, median_background(source_frames[::8])))
    bg = background(source_frames)
    violations, non_violations = [], []
    for w in walkers:
        feet = [w.foot_at(i / FPS, PERSPECTIVE) for i in range(FRAMES)]
        case, info = classify_feet(feet, inside, zone_distance, SCHEDULE, FPS, GRACE_S)
        want = "violation" if EXPECTED[w.id].startswith("violation") else EXPECTED[w.id]
        if case != want:
            raise AssertionError(f"walker {w.id}: scripted as {EXPECTED[w.id]}, path gives {case}")
        item = describe(w, case, info)
        (violations if isinstance(item, Violation) else non_violations).append(item)
    violations.sort(key=lambda v: v.frame)
    folder = out_root / DAY
    folder.mkdir(parents=True, exist_ok=True)
    scene = Scene(
        name=DAY,
        description=(
            "1920x1080 camera, synthetic arrangement of real parts: vtest.avi median background "
            "(scaled 1.875x, left third mirrored), real pedestrians cut out of vtest.avi drawn "
            "50-150 px tall on scripted paths, some in occluding groups; drawn red/green head."
        ),
        fps=FPS,
        size=SIZE,
        frames=FRAMES,
        camera=Camera(
            id="hd-crossing",
            place="synthetic 1080p crossing (sample)",
            roi=ROI,
            zone=ZONE,
            detector=DETECTOR,
        ),
        schedule=SCHEDULE,
        violations=violations,
        non_violations=non_violations,
        tolerance={
            "dt_s": 1.0,
            "foot_px": 40,
            "note": "GT entry is the first frame whose scripted foot point is inside the zone",
        },
    )
    keep = {v.frame for v in violations} | {n.frame for n in non_violations if n.frame is not None}
    shown, boxes = {}, []
    sink = VideoSink(folder / scene.video_name, FPS, SIZE)
    for i, frame, drawn in render_frames(walkers, bg):
        sink.write(frame)
        boxes.append(drawn)
        if i in keep:
            shown[i] = frame.copy()
    sink.close()
    scene.provenance = {
        "background": "real: median of every 8th frame of vtest.avi (Debian opencv-doc), scaled "
        f"{SCALE:.3f}x, its left {PAD} px mirrored to widen it to {SIZE[0]}",
        "people": "real: cut out of vtest.avi frames, drawn smaller than the background's scale "
        "(h = 0.179 * foot_y - 11.3 px), positions, sizes and timing scripted",
        "sprites": {w.id: w.sprite.name for w in walkers},
        "signal_head": "synthetic: tools/signal_head.py, red/green",
        "boxes": "boxes.json: per frame, each walker's drawn box, full (not cut by the frame "
        "edge), covered (share hidden by nearer walkers)",
    }
    (folder / "boxes.json").write_text(json.dumps({"frames": boxes}, separators=(",", ":")))
    write_camera_yaml(scene, folder)
    write_ground_truth(scene, folder)
    write_contact_sheet(shown, scene, folder / "contact_sheet.png", scale=0.25)
    return {"violations": len(violations), "non_violations": len(non_violations)}


def build_dusk(out_root: Path, video: bool = True) -> Path:
    """The dusk scene's files from the day scene's; its video only if ``video`` (30+ MB:
    not stored in the repository, made on demand by the tests and the bench)."""
    day, folder = out_root / DAY, out_root / DUSK
    folder.mkdir(parents=True, exist_ok=True)
    gt = json.loads((day / "ground_truth.json").read_text())
    gt["scene"] = DUSK
    gt["description"] += " Dusk: the same video darkened, tinted blue, with sensor noise."
    gt["provenance"]["dusk"] = dusk.describe()
    (folder / "ground_truth.json").write_text(json.dumps(gt, indent=2) + "\n")
    (folder / "boxes.json").write_bytes((day / "boxes.json").read_bytes())
    cam = (day / "camera.yaml").read_text()
    cam = cam.replace(f"scenes/{DAY}/", f"scenes/{DUSK}/").replace("id: hd-crossing", "id: hd-dusk")
    cam = cam.replace(f"sample scene {DAY};", f"sample scene {DUSK} (video made from {DAY});")
    # The motion gate's threshold is in grey levels; at dusk walking people change far
    # fewer of them (contrast x0.45), so a dusk camera is installed with a lower one.
    cam += "motion:\n  pixel_threshold: 10\n"
    (folder / "camera.yaml").write_text(cam)
    if video:
        dusk.ensure_dusk_video(folder, day, FPS, ROI)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=vtest.SOURCE)
    ap.add_argument("--out", type=Path, default=HERE / "scenes")
    ap.add_argument(
        "--dusk-only",
        action="store_true",
        help="only the dusk scene, from the stored day scene (no vtest.avi needed)",
    )
    args = ap.parse_args()
    if not args.dusk_only:
        print(json.dumps(build(args.source, args.out)))
    print(build_dusk(args.out))


if __name__ == "__main__":
    main()
