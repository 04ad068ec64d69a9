"""Build scenes/vtest_road: OpenCV's real vtest.avi with a drawn pedestrian signal head.

The people and the street are real (Debian package opencv-doc). The signal head, its
phase schedule and the carriageway polygon are made up for this sample; the ground truth
below was made by a person looking at zoomed frames with the zone drawn (the project's
detector boxes were shown alongside to read pixel positions), not computed.

Run from the repository root: ``python sample_media/make_vtest_scene.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from tools.contact_sheet import sheet_frames, write_contact_sheet  # noqa: E402
from tools.scene_files import (  # noqa: E402
    Camera,
    NonViolation,
    Scene,
    Violation,
    write_camera_yaml,
    write_ground_truth,
)
from tools.schedule import Schedule  # noqa: E402
from tools.signal_head import HeadColours, composite, draw_mount, render  # noqa: E402
from tools.video import VideoSink, read_frames  # noqa: E402

SOURCE = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
FIRST_SOURCE_FRAME = 10  # the clip is source frames 10..409 (40 s at 10 fps)
FRAMES = 400
FPS = 10.0
NAME = "vtest_road"

# The dark-asphalt road that leads from the plaza up to the car park (top right).
ZONE = [
    (495, 212), (560, 172), (640, 136), (715, 100), (768, 100), (768, 135),
    (740, 160), (705, 185), (690, 210), (700, 246), (600, 229), (530, 220),
]  # fmt: skip
ROI = (398, 100, 24, 48)  # signal head hung left of the lamp post (x ~ 425)
POLE_X = 426
SHEET_CROP = (380, 60, 768, 340)  # contact sheet shows the signal, the road and the kerb
SCHEDULE = Schedule.of(
    (0.0, 4.0, "green"), (4.0, 14.0, "red"), (14.0, 26.0, "green"), (26.0, 40.0, "red")
)

# Hand annotation (frames are clip frames = source frame - 10). Foot points are where the
# person's feet touch the ground as seen in the frame.
VIOLATIONS = [
    Violation(
        "woman_black_coat", 9.0, 90, (529, 219), "violation_group", 5.0,
        "walks with man_red_jacket at her left; the SSD often puts both in one box",
    ),
    Violation(
        "man_red_jacket", 9.2, 92, (510, 212), "violation_group", 5.2,
        "enters beside woman_black_coat; both walk up the road to the car park",
    ),
    Violation(
        "man_grey_jacket", 9.3, 93, (606, 228), "violation", 5.3,
        "walks straight up the road; the SSD misses him in clip frames 94-100 and its boxes "
        "end ~7 px below his feet",
    ),
    Violation(
        "man_black_clothes", 37.6, 376, (572, 218), "violation", 11.6,
        "walks along the kerb line, then turns into the road; his SSD box bottom lies ~10 px "
        "below his feet, so a box-based entry comes ~0.4 s later (clip frame ~380)",
    ),
]  # fmt: skip
NON_VIOLATIONS = [
    NonViolation(
        "woman_black_coat", "clearance",
        "in the zone when the second red began (26.0 s), walking back out; leaves at ~28.9 s. "
        "Already flagged once for her 9.0 s entry; no new entry, so no second violation",
        260, (634, 207),
    ),
    NonViolation(
        "man_red_jacket", "clearance",
        "as woman_black_coat: in the zone when red began at 26.0 s, leaves at ~28.7 s",
        260, (608, 202),
    ),
    NonViolation(
        "man_grey_jacket", "exit_on_green",
        "walks back down and leaves the zone on the left at ~19 s (green); leaving is never "
        "a violation",
        None, None,
    ),
    NonViolation(
        "woman_white_hoodie", "sidewalk_only",
        "crosses the plaza right to left 20-60 px below the kerb line during red (11-15 s)",
        126, (579, 288),
    ),
    NonViolation(
        "man_dark_jacket_a", "sidewalk_only",
        "walks towards the lower right, below the zone (17-20 s, green)", 175, (632, 319),
    ),
    NonViolation(
        "man_dark_jacket_b", "sidewalk_only",
        "walks beside man_dark_jacket_a, below the zone (17-20 s, green)", 175, (543, 323),
    ),
    NonViolation(
        "man_black_jacket_c", "sidewalk_only",
        "walks right to left across the plaza ~40 px below the zone (23-26 s)", 230, (625, 290),
    ),
    NonViolation(
        "man_grey_bald", "sidewalk_only",
        "walks left to right across the lower plaza during red (36-40 s)", 375, (710, 321),
    ),
]  # fmt: skip


def build_scene() -> Scene:
    return Scene(
        name=NAME,
        description=(
            "Real pedestrians (OpenCV vtest.avi, source frames 10-409) on a campus road; the "
            "pedestrian signal head, its phase schedule and the carriageway polygon are synthetic. "
            "Ground truth was annotated by looking at frames. No one enters on green in this clip."
        ),
        fps=FPS,
        size=(768, 576),
        frames=FRAMES,
        camera=Camera(id="vtest-road", place="vtest.avi campus road (sample)", roi=ROI, zone=ZONE),
        schedule=SCHEDULE,
        violations=VIOLATIONS,
        non_violations=NON_VIOLATIONS,
        tolerance={
            "dt_s": 1.5,
            "foot_px": 40,
            "note": "hand annotation: entry times are +-0.3 s; SSD boxes end 5-15 px below the "
            "feet and miss people for up to 0.7 s, which shifts a box-based entry by up to ~1 s",
        },
        provenance={
            "people_and_street": "real: vtest.avi from Debian opencv-doc 4.6.0 "
            "(examples/data/vtest.avi), Apache-2.0 AND BSD-3-Clause, see LICENSES/opencv-doc.txt",
            "signal_head": "synthetic: drawn by tools/signal_head.py into every frame at the ROI",
            "schedule_and_zone": "synthetic: chosen for this sample",
            "ground_truth": "hand annotation by looking at zoomed frames (detector boxes shown "
            "as a pixel ruler)",
            "clip": f"source frames {FIRST_SOURCE_FRAME}..{FIRST_SOURCE_FRAME + FRAMES - 1}",
        },
    )


def make(source: Path, out_root: Path) -> Scene:
    scene = build_scene()
    folder = out_root / NAME
    folder.mkdir(parents=True, exist_ok=True)
    heads = {p: render(p, ROI[2:], HeadColours()) for p in ("red", "green")}
    sink = VideoSink(folder / scene.video_name, FPS, scene.size)
    keep = set(sheet_frames(scene))
    shown = {}
    n = 0
    for i, frame in enumerate(read_frames(source, FIRST_SOURCE_FRAME, FRAMES)):
        draw_mount(frame, ROI, POLE_X)
        composite(frame, ROI, heads[SCHEDULE.phase_at(i / FPS)])
        sink.write(frame)
        if i in keep:
            shown[i] = frame.copy()
        n += 1
    sink.close()
    if n != FRAMES:
        raise RuntimeError(f"{source}: expected at least {FIRST_SOURCE_FRAME + FRAMES} frames")
    write_camera_yaml(scene, folder)
    write_ground_truth(scene, folder)
    write_contact_sheet(shown, scene, folder / "contact_sheet.png", scale=1.0, crop=SHEET_CROP)
    return scene


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--source", type=Path, default=SOURCE, help="vtest.avi (apt-get install opencv-doc)"
    )
    ap.add_argument("--out", type=Path, default=HERE / "scenes")
    args = ap.parse_args()
    make(args.source, args.out)


if __name__ == "__main__":
    main()
