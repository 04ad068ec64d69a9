"""Build scenes/synthetic_rules: every crossing-rule case, with exact ground truth.

Real parts, synthetic arrangement: the background is the median of OpenCV's vtest.avi
(the people vanish, the street stays), zoomed 2.5x on the road; the people are real
pedestrians cut out of vtest.avi frames (a walking cycle each), scaled to the camera's
perspective and moved along scripted paths. The signal head is drawn. Because the foot
paths and the phase schedule are scripts, the ground truth is computed from them
exactly, and the script checks that every intended rule case really happens.

Run from the repository root: ``python sample_media/make_synthetic_scene.py``.
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

import make_vtest_scene as vtest  # noqa: E402
from tools.cases import classify_feet  # noqa: E402
from tools.contact_sheet import write_contact_sheet  # noqa: E402
from tools.person_detector import PersonDetector, iou  # noqa: E402
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
from tools.sprites import Sprite, cut, median_background, place  # noqa: E402
from tools.video import VideoSink, read_frames  # noqa: E402
from tools.walkers import Perspective, Walker  # noqa: E402

FPS = 10.0
FRAMES = 400
SIZE = (768, 576)
GRACE_S = 0.5
# The synthetic camera sees source pixels [460, 768) x [150, 381) enlarged ~2.5x: people
# at the road mouth are then >= 165 px tall, which the 300x300 SSD finds reliably on this
# background (at 2x, ~140 px on the kerb line, it found only about half of them).
CROP = (460, 150, 768, 381)
ZOOM = 768 / 308
# Person height in vtest.avi: h = 0.2675 * foot_y + 9.06 (least squares over all SSD
# boxes with score >= 0.8, median error 4.5 px); in the zoomed view the same law becomes:
PERSPECTIVE = Perspective(a=0.2675, b=ZOOM * (0.2675 * CROP[1] + 9.06))
ROI = (14, 34, 40, 80)  # the head sits on a drawn pole at the car-park corner
POLE = (60, 40, 175)  # pole x, top y, foot y
SCHEDULE = Schedule.of(
    (0.0, 8.0, "green"), (8.0, 22.0, "red"), (22.0, 28.0, "green"), (28.0, 40.0, "red")
)

# Sprites: (name, first source frame, frames in the walking cycle, SSD box at the first frame).
SPRITE_SOURCES = [
    ("grey_jacket_back", 75, 19, (571, 191, 609, 308)),
    ("black_coat_side", 225, 16, (698, 217, 740, 321)),
    ("bald_grey_side", 351, 12, (479, 190, 516, 276)),
    ("grey_jacket_back_b", 509, 14, (534, 221, 567, 331)),
    ("black_coat_front_standing", 552, 17, (643, 304, 679, 416)),
    ("black_coat_back", 650, 16, (460, 220, 498, 317)),
    ("red_jacket_back", 636, 12, (638, 223, 685, 324)),
]


def clip_to_frame(poly: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Clip a polygon to the frame rectangle (Sutherland-Hodgman; the frame is convex)."""
    W, H = SIZE
    edges = [
        (lambda p: p[0] >= 0, lambda a, b: _cut_x(a, b, 0.0)),
        (lambda p: p[0] <= W, lambda a, b: _cut_x(a, b, float(W))),
        (lambda p: p[1] >= 0, lambda a, b: _cut_y(a, b, 0.0)),
        (lambda p: p[1] <= H, lambda a, b: _cut_y(a, b, float(H))),
    ]
    out = list(poly)
    for keep, cross in edges:
        pts, out = out, []
        for k, cur in enumerate(pts):
            prev = pts[k - 1]
            if keep(cur):
                if not keep(prev):
                    out.append(cross(prev, cur))
                out.append(cur)
            elif keep(prev):
                out.append(cross(prev, cur))
    return out


def _cut_x(a, b, x):
    t = (x - a[0]) / (b[0] - a[0])
    return (x, a[1] + t * (b[1] - a[1]))


def _cut_y(a, b, y):
    t = (y - a[1]) / (b[1] - a[1])
    return (a[0] + t * (b[0] - a[0]), y)


ZONE = [
    tuple(round(v, 1) for v in p)
    for p in clip_to_frame([((x - CROP[0]) * ZOOM, (y - CROP[1]) * ZOOM) for x, y in vtest.ZONE])
]


def inside(p: tuple[float, float]) -> bool:
    return cv2.pointPolygonTest(np.array(ZONE, np.float32), p, False) > 0


def zone_distance(p: tuple[float, float]) -> float:
    """Signed distance to the zone border (positive inside)."""
    return cv2.pointPolygonTest(np.array(ZONE, np.float32), p, True)


def load_sprites(source_frames: list[np.ndarray], background: np.ndarray) -> dict[str, Sprite]:
    """Cut each sprite's walking cycle, following the person with the SSD frame to frame."""
    det = PersonDetector(threshold=0.3)
    sprites = {}
    for name, f0, n, box0 in SPRITE_SOURCES:
        box = np.array(box0, np.float32)
        frames, xs = [], []
        for f in range(f0, f0 + n):
            boxes = det(source_frames[f])
            overlap = iou(box[None], boxes)[0] if len(boxes) else np.zeros(1)
            j = int(np.argmax(overlap))
            if f > f0 and overlap[j] <= 0.15:
                break  # the SSD lost the person: end the cycle here
            box = boxes[j, :4] if overlap[j] > 0.15 else box
            try:
                frames.append(cut(source_frames[f], background, box))
            except ValueError:
                break
            xs.append((box[0] + box[2]) / 2)
        if len(frames) < 8:
            raise RuntimeError(
                f"sprite {name}: only {len(frames)} usable frames from source frame {f0}"
            )
        sprites[name] = Sprite(name, tuple(frames), float(xs[-1] - xs[0]))
    return sprites


def timed(w: Walker, entry_frame: int) -> Walker:
    """Shift ``w`` in time so its feet are first inside the zone at ``entry_frame``."""
    tc = w.first_time_inside(inside, PERSPECTIVE)
    if tc is None:
        raise ValueError(f"{w.id}: path never enters the zone")
    return replace(w, t_start=entry_frame / FPS - tc - 0.03)


def script(s: dict[str, Sprite]) -> list[Walker]:
    """The cast. Entry frames are chosen against SCHEDULE; see EXPECTED for the cases."""
    out = ((640.0, 170.0), (800.0, 150.0))  # over the right kerb and out of view
    return [
        timed(
            Walker(
                "G", s["black_coat_back"], ((380, 660), (420, 250), (440, 180), (520, 175), *out), 0
            ),
            30,
        ),
        timed(
            Walker(
                "C",
                s["grey_jacket_back"],
                ((150, 660), (230, 230), (250, 160), (450, 170), *out),
                0,
            ),
            68,
        ),
        timed(
            Walker("V", s["red_jacket_back"], ((520, 660), (490, 250), (520, 170), *out), 0), 120
        ),
        timed(
            Walker(
                "P",
                s["grey_jacket_back_b"],
                ((250, 660), (330, 240), (360, 175), (540, 190), (600, 215), (800, 250)),
                0,
            ),
            160,
        ),
        timed(
            Walker(
                "R",
                s["black_coat_back"],
                ((430, 660), (480, 250), (500, 180), (580, 160), (800, 140)),
                0,
            ),
            161,
        ),
        Walker("S", s["bald_grey_side"], ((-80, 310), (860, 300)), 17.0),
        Walker("K", s["black_coat_front_standing"], ((190, 250),), 23.0, 36.0),
        timed(
            Walker(
                "Q", s["red_jacket_back"], ((200, 660), (290, 240), (310, 170), (450, 175), *out), 0
            ),
            281,
        ),
        timed(
            Walker("W", s["black_coat_side"], ((860, 185), (420, 185), (330, 250), (280, 660)), 0),
            345,
        ),
    ]


# The rule case each walker was scripted to show; build() checks the scripts deliver it.
EXPECTED = {
    "G": "green_crossing",
    "C": "clearance",
    "S": "sidewalk_only",
    "V": "violation",
    "P": "violation_pair",
    "R": "violation_pair",
    "K": "sidewalk_only",
    "Q": "within_grace",
    "W": "violation",
}


def classify(w: Walker) -> tuple[str, dict]:
    """Work out a walker's rule case from its foot path and the schedule, frame by frame."""
    feet = [w.foot_at(i / FPS, PERSPECTIVE) for i in range(FRAMES)]
    return classify_feet(feet, inside, zone_distance, SCHEDULE, FPS, GRACE_S)


def describe(w: Walker, case: str, info: dict) -> Violation | NonViolation:
    if case == "violation":
        pair = EXPECTED[w.id] == "violation_pair"
        note = f"sprite {w.sprite.name}" + (
            "; enters side by side with the other pair member" if pair else ""
        )
        foot = tuple(round(v, 1) for v in info["foot"])
        t_entry, red_for = round(info["entry"] / FPS, 2), round(info["red_for"], 2)
        return Violation(w.id, t_entry, info["entry"], foot, EXPECTED[w.id], red_for, note)
    if case == "green_crossing":
        out = info["exits"][0] / FPS
        why = (
            f"enters at {info['entry'] / FPS:.1f} s on green and leaves at {out:.1f} s, before red"
        )
        return NonViolation(
            w.id, case, why, info["entry"], tuple(round(v, 1) for v in info["foot"])
        )
    if case == "clearance":
        r = info["red_frame"][0]
        out = info["exits"][0] / FPS
        why = (
            f"enters at {info['entry'] / FPS:.1f} s on green, is still in the zone when red "
            f"begins at {r / FPS:.1f} s and finishes crossing, leaving at {out:.1f} s"
        )
        return NonViolation(w.id, case, why, r, tuple(round(v, 1) for v in info["feet"][r]))
    if case == "within_grace":
        why = (
            f"enters {info['red_for']:.2f} s after red began, within grace_s = {GRACE_S} s "
            "(also within it after the 0.3 s debounce)"
        )
        return NonViolation(
            w.id, case, why, info["entry"], tuple(round(v, 1) for v in info["foot"])
        )
    feet = info["feet"]
    k = max((i for i in range(FRAMES) if feet[i] is not None), key=lambda i: zone_distance(feet[i]))
    what = "stands still near the kerb" if len(w.path) == 1 else "walks along the plaza"
    why = f"{what}; never enters (closest {info['min_outside_px']:.0f} px from the zone)"
    return NonViolation(w.id, "sidewalk_only", why, k, tuple(round(v, 1) for v in feet[k]))


def render_frames(walkers: list[Walker], background: np.ndarray, colours: HeadColours):
    """Yield (frame index, BGR frame, {walker id: drawn box}) for the whole video."""
    heads = {p: render(p, ROI[2:], colours) for p in ("red", "green")}
    for i in range(FRAMES):
        t = i / FPS
        frame = background.copy()
        draw_pole(frame, ROI, *POLE)
        composite(frame, ROI, heads[SCHEDULE.phase_at(t)])
        drawn = {}
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
            drawn[w.id] = (box, full)
        yield i, frame, drawn


def build(source: Path, out_root: Path, name: str, colours: HeadColours, cam_id: str) -> dict:
    source_frames = list(read_frames(source))
    background_full = median_background(source_frames[::8])
    x0, y0, x1, y1 = CROP
    background = cv2.resize(background_full[y0:y1, x0:x1], SIZE, interpolation=cv2.INTER_CUBIC)
    walkers = script(load_sprites(source_frames, background_full))

    violations, non_violations = [], []
    for w in walkers:
        case, info = classify(w)
        want = "violation" if EXPECTED[w.id].startswith("violation") else EXPECTED[w.id]
        if case != want:
            raise AssertionError(
                f"walker {w.id}: scripted as {EXPECTED[w.id]}, the path gives {case}"
            )
        item = describe(w, case, info)
        (violations if isinstance(item, Violation) else non_violations).append(item)
    violations.sort(key=lambda v: v.frame)

    folder = out_root / name
    folder.mkdir(parents=True, exist_ok=True)
    scene = Scene(
        name=name,
        description=(
            "Synthetic arrangement of real parts: median background of vtest.avi (zoomed 2.5x on "
            "the road), real pedestrians cut out of vtest.avi frames walking scripted paths, a "
            f"drawn {colours.stop}/{colours.walk} signal head. Ground truth computed exactly "
            "from the scripts."
        ),
        fps=FPS,
        size=SIZE,
        frames=FRAMES,
        camera=Camera(
            id=cam_id,
            place="synthetic crossing (sample)",
            roi=ROI,
            zone=ZONE,
            stop_colour=colours.stop,
            walk_colour=colours.walk,
        ),
        schedule=SCHEDULE,
        violations=violations,
        non_violations=non_violations,
        tolerance={
            "dt_s": 1.0,
            "foot_px": 30,
            "note": "GT entry is the first frame whose scripted foot point is inside the zone; a "
            "detector box ends a few px off the feet and the 0.3 s debounce may delay a reported "
            "entry",
        },
    )
    det = PersonDetector()
    stats: dict[str, list[int]] = {w.id: [0, 0] for w in walkers}
    near_entry: dict[str, list[int]] = {v.id: [0, 0] for v in violations}
    overlaps: dict[str, float] = {}
    keep = {v.frame for v in violations} | {n.frame for n in non_violations if n.frame is not None}
    shown = {}
    sink = VideoSink(folder / scene.video_name, FPS, SIZE)
    drawn_all = []
    for i, frame, drawn in render_frames(walkers, background, colours):
        sink.write(frame)
        drawn_all.append(drawn)
        if i in keep:
            shown[i] = frame.copy()
        ids = sorted(drawn)
        for a in range(len(ids)):
            for b in range(a + 1, len(ids)):
                o = float(iou(np.array([drawn[ids[a]][0]]), np.array([drawn[ids[b]][0]]))[0, 0])
                key = f"{ids[a]}-{ids[b]}"
                overlaps[key] = max(overlaps.get(key, 0.0), o)
    sink.close()
    # Detection check on the encoded video, as the edge will see it.
    for i, frame in enumerate(read_frames(folder / scene.video_name)):
        drawn = drawn_all[i]
        boxes = det(frame)
        for wid, (box, full) in drawn.items():
            if not full:
                continue
            hit = len(boxes) > 0 and float(iou(np.array([box]), boxes).max()) >= 0.5
            stats[wid][0] += int(hit)
            stats[wid][1] += 1
            v = next((v for v in violations if v.id == wid), None)
            if v is not None and abs(i - v.frame) <= FPS:
                near_entry[wid][0] += int(hit)
                near_entry[wid][1] += 1
    rates = {
        k: {"detected": a, "frames": n, "rate": round(a / n, 3) if n else None}
        for k, (a, n) in stats.items()
    }
    scene.provenance = {
        "background": "real: median of every 8th frame of vtest.avi (Debian opencv-doc), crop "
        f"{list(CROP)} enlarged {ZOOM:.2f}x to {SIZE[0]}x{SIZE[1]}",
        "people": "real: cut out of vtest.avi frames (SSD box + colour difference to the median + "
        "GrabCut), one walking cycle each, looped; positions, sizes and timing are scripted",
        "sprites": {w.id: w.sprite.name for w in walkers},
        "sprite_sources": {
            n: {"first_source_frame": f0, "frames": k} for n, f0, k, _ in SPRITE_SOURCES
        },
        "signal_head": f"synthetic: tools/signal_head.py, {colours.stop}/{colours.walk}",
        "ssd_detection_rate": {
            "how": "models/pedestrian_ssdlite_mnv2.onnx (score >= 0.5) on the encoded video; a "
            "frame counts when a box has IoU >= 0.5 with the drawn sprite; frames where the sprite "
            "is cut by the frame edge are not counted",
            "per_walker": rates,
            "within_1s_of_entry": {
                k: {"detected": a, "frames": n} for k, (a, n) in near_entry.items()
            },
        },
        "max_box_iou_between_walkers": {
            k: round(v, 3) for k, v in sorted(overlaps.items()) if v > 0
        },
    }
    write_camera_yaml(scene, folder)
    write_ground_truth(scene, folder)
    write_contact_sheet(shown, scene, folder / "contact_sheet.png", scale=0.5)
    return scene.provenance


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--source", type=Path, default=vtest.SOURCE, help="vtest.avi (apt-get install opencv-doc)"
    )
    ap.add_argument("--out", type=Path, default=HERE / "scenes")
    args = ap.parse_args()
    prov = build(
        args.source, args.out, "synthetic_rules", HeadColours("red", "green"), "synthetic-rules"
    )
    print(json.dumps(prov["ssd_detection_rate"], indent=1))
    print(json.dumps(prov["max_box_iou_between_walkers"], indent=1))


if __name__ == "__main__":
    main()
