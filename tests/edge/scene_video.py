"""A sample scene re-encoded as the H.264 stream a camera would send (main or sub)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2

from edge.capture import VideoFileSource


def encode_scene(scene_video: Path, path: Path, width: int, height: int) -> Path:
    """``scene_video``'s frames at ``width x height`` as H.264 at ``path``, frame k at
    pts k (1/10 s), a keyframe every 20 frames."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "20", "g": "20"}
        s.time_base = Fraction(1, 10)
        for f in VideoFileSource(scene_video):
            img = cv2.resize(f.image, (width, height), interpolation=cv2.INTER_AREA)
            vf = av.VideoFrame.from_ndarray(img, format="bgr24")
            vf.pts, vf.time_base = f.index, Fraction(1, 10)
            for pkt in s.encode(vf):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path
