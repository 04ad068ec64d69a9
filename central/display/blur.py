"""Blur the violator's box in an evidence frame before it is shown on a public screen.

Done server-side so the raw image never reaches a screen (principle 5). Pixelating
first and then blurring destroys the detail a face needs to be recognised; a plain
Gaussian alone can be partly undone at small radii.
"""

from __future__ import annotations

import io

from PIL import Image, ImageFilter

# Margin around the person's box (fraction of its size): the box is from the entry frame
# and the tracker's box can be tight around the head.
PAD = 0.2


def padded_box(
    bbox: tuple[float, float, float, float], width: int, height: int, pad: float = PAD
) -> tuple[int, int, int, int]:
    """The box grown by ``pad`` of its size on each side, clamped to the image."""
    x1, y1, x2, y2 = bbox
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    return (
        max(0, int(x1 - pad * w)),
        max(0, int(y1 - pad * h)),
        min(width, int(x2 + pad * w + 1)),
        min(height, int(y2 + pad * h + 1)),
    )


def blur_region(img: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """A copy of ``img`` with ``box`` pixelated to ~8 blocks across and then smoothed."""
    out = img.convert("RGB")
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        return out
    region = out.crop(box)
    w, h = region.size
    block = max(4, max(w, h) // 8)
    small = region.resize((max(1, w // block), max(1, h // block)), Image.Resampling.BOX)
    coarse = small.resize((w, h), Image.Resampling.NEAREST)
    out.paste(coarse.filter(ImageFilter.GaussianBlur(radius=block / 2)), (x1, y1))
    return out


def blur_person_jpeg(
    jpeg: bytes, bbox: tuple[float, float, float, float], quality: int = 85
) -> bytes:
    """The evidence JPEG with the person's (padded) box blurred, re-encoded as JPEG."""
    img = Image.open(io.BytesIO(jpeg))
    out = blur_region(img, padded_box(bbox, img.width, img.height))
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=quality)
    return buf.getvalue()
