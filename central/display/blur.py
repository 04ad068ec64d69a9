"""Blur the violator in an evidence frame before it is shown on a public screen.

Done server-side so the raw image never reaches a screen (principle 5). Pixelating
first and then blurring destroys the detail a face needs to be recognised; a plain
Gaussian alone can be partly undone at small radii.

The person's box comes from the device, so it is not trusted: a box that is missing,
not four finite numbers, inverted, empty, mostly outside the image or too small to be
a person (``person_box`` returns ``None``) makes the WHOLE frame blurred. A screen then
shows a street-coloured smear rather than a face (fail closed).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from PIL import Image, ImageFilter

# Margin around the person's box (fraction of its size): the box is from the entry frame
# and the tracker's box can be tight around the head.
PAD = 0.2
# A detector box may overhang the frame a little; beyond this much of it (area) outside
# the image the box does not describe the person in this picture.
MIN_INSIDE = 0.5
# The smallest person a box may describe: the shipped SSD's smallest true pedestrian in
# the sample scenes is 23 x 77 px (sample_media/photos/people.json); anything far below
# cannot be the person whose face the frame shows.
MIN_HEIGHT_PX = 16
MIN_HEIGHT_FRAC = 0.04  # of the image height
MIN_WIDTH_PX = 6
# A standing, walking or sitting person's box is not a flat strip nor a needle.
ASPECT_RANGE = (0.5, 8.0)  # height / width

Box = tuple[int, int, int, int]


def person_box(bbox: object, width: int, height: int) -> tuple[float, ...] | None:
    """``bbox`` as ``(x1, y1, x2, y2)`` when it plausibly frames a person in a
    ``width`` x ``height`` image, else ``None`` (the caller then blurs everything)."""
    if not isinstance(bbox, Sequence) or isinstance(bbox, str | bytes) or len(bbox) != 4:
        return None
    try:
        x1, y1, x2, y2 = (float(v) for v in bbox)
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None
    w, h = x2 - x1, y2 - y1
    if w <= 0 or h <= 0:
        return None
    inside_w = min(x2, width) - max(x1, 0.0)
    inside_h = min(y2, height) - max(y1, 0.0)
    if inside_w <= 0 or inside_h <= 0 or inside_w * inside_h < MIN_INSIDE * w * h:
        return None
    if h < max(MIN_HEIGHT_PX, MIN_HEIGHT_FRAC * height) or w < MIN_WIDTH_PX:
        return None
    if not ASPECT_RANGE[0] <= h / w <= ASPECT_RANGE[1]:
        return None
    return (x1, y1, x2, y2)


def padded_box(
    bbox: tuple[float, float, float, float], width: int, height: int, pad: float = PAD
) -> Box:
    """The box grown by ``pad`` of its size on each side, clamped to the image."""
    x1, y1, x2, y2 = bbox
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    return (
        max(0, int(x1 - pad * w)),
        max(0, int(y1 - pad * h)),
        min(width, int(x2 + pad * w + 1)),
        min(height, int(y2 + pad * h + 1)),
    )


def blur_region(img: Image.Image, box: Box) -> Image.Image:
    """A copy of ``img`` with ``box`` pixelated to ~8 blocks across and then smoothed."""
    out = img.convert("RGB")
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        # Never return an untouched frame: an empty region here means a caller bug.
        return blur_region(out, (0, 0, out.width, out.height))
    region = out.crop(box)
    w, h = region.size
    block = max(4, max(w, h) // 8)
    small = region.resize((max(1, w // block), max(1, h // block)), Image.Resampling.BOX)
    coarse = small.resize((w, h), Image.Resampling.NEAREST)
    out.paste(coarse.filter(ImageFilter.GaussianBlur(radius=block / 2)), (x1, y1))
    return out


def region_to_blur(bbox: object, width: int, height: int) -> Box:
    """The padded person box, or the whole image when the box is not plausible."""
    box = person_box(bbox, width, height)
    if box is None:
        return (0, 0, width, height)
    return padded_box(box, width, height)  # type: ignore[arg-type]


def blur_person_jpeg(jpeg: bytes, bbox: object, quality: int = 85) -> bytes:
    """The evidence JPEG with the person's (padded) box blurred — or all of it, when the
    device's box is missing or implausible — re-encoded as JPEG."""
    img = Image.open(io.BytesIO(jpeg))
    out = blur_region(img, region_to_blur(bbox, img.width, img.height))
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=quality)
    return buf.getvalue()
