"""The face of an enrolment photo, framed like the captured face so the two compare at
the same scale.

The gateway's evidence crop of a violator is YuNet's face box grown by 0.2 of its size
on each side (edge/faces/bestshot.py ``face_jpeg``); the enrolment crop is made the same
way from the same detector, so a face fills the same fraction of both pictures and two
pictures shown at the same height show the faces at the same scale.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from central.faces.detect import detect

PAD = 0.2  # as the gateway's evidence crop
MIN_FACE_PX = 24  # smaller than this is no face to compare with


@dataclass(frozen=True)
class FaceCrop:
    jpeg: bytes
    box: list[float]  # x, y, w, h of the face in the (EXIF-upright) original
    score: float


def crop_face(data: bytes, quality: int = 92) -> FaceCrop | None:
    """The largest face of the photo, padded and JPEG-encoded; None when no face is found.

    Raises:
        ValueError: ``data`` is not a readable image.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            img = ImageOps.exif_transpose(im).convert("RGB")
    except (OSError, SyntaxError):
        raise ValueError("photo: not a readable image") from None
    faces = [f for f in detect(img) if min(f.w, f.h) >= MIN_FACE_PX]
    if not faces:
        return None
    f = max(faces, key=lambda f: f.w * f.h)  # the enrolled person, not a bystander
    x1, y1 = max(0, int(f.x - PAD * f.w)), max(0, int(f.y - PAD * f.h))
    x2 = min(img.width, int(f.x + (1 + PAD) * f.w + 0.999))
    y2 = min(img.height, int(f.y + (1 + PAD) * f.h + 0.999))
    buf = io.BytesIO()
    img.crop((x1, y1, x2, y2)).save(buf, "JPEG", quality=quality)
    return FaceCrop(buf.getvalue(), [round(v, 1) for v in (f.x, f.y, f.w, f.h)], f.score)
