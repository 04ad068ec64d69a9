"""Sample scenes re-encoded at camera resolutions (720p, 1080p) for the benches.

The sample clips are 768x576 (vtest_road) or 1080p (hd_crossing); intersection cameras
send H.264 at 720p-4K. This scales a scene's frames to ``width x height`` and encodes
them as H.264 (libx264 from PyAV's wheels, GOP of 2 s like a camera's default), so that
decode costs what it costs at that resolution, and scales the camera YAML's zone and
ROI with it. Files are cached under the temp directory (made once, ~10-60 s).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import av
import cv2
import yaml

REPO = Path(__file__).resolve().parents[1]
SCENES = REPO / "sample_media" / "scenes"
CACHE = Path(tempfile.gettempdir()) / "jaywatch-bench"


def scaled_video(scene: str, width: int, height: int, frames: int | None = None) -> Path:
    """``scene``'s video at ``width x height``, H.264 (cached)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"{scene}_{width}x{height}_{frames or 'all'}.mp4"
    if out.is_file():
        return out
    src = cv2.VideoCapture(str(SCENES / scene / "video.mp4"))
    fps = src.get(cv2.CAP_PROP_FPS) or 10.0
    tmp = out.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as c:
        s = c.add_stream("libx264", rate=round(fps))
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"preset": "veryfast", "crf": "23", "g": str(round(2 * fps))}
        n = 0
        while frames is None or n < frames:
            ok, img = src.read()
            if not ok:
                break
            img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(pkt)
            n += 1
        for pkt in s.encode():
            c.mux(pkt)
    tmp.replace(out)
    return out


def scaled_camera(scene: str, width: int, height: int, video: Path) -> dict:
    """The scene's camera YAML as a dict with zone and ROI scaled to ``width x height``
    and ``source`` set to ``video``."""
    data = yaml.safe_load((SCENES / scene / "camera.yaml").read_text())
    cap = cv2.VideoCapture(str(SCENES / scene / "video.mp4"))
    sx = width / cap.get(cv2.CAP_PROP_FRAME_WIDTH)
    sy = height / cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
    data["crossing"]["zone"] = [
        [round(x * sx, 1), round(y * sy, 1)] for x, y in data["crossing"]["zone"]
    ]
    x, y, w, h = data["signal"]["roi"]
    data["signal"]["roi"] = [
        round(x * sx),
        round(y * sy),
        max(4, round(w * sx)),
        max(4, round(h * sy)),
    ]
    data["source"] = str(video)
    return data
