"""Files sent with an appeal: what they are is decided by their content alone.

The file name and the declared Content-Type are not trusted. A file is accepted if its
first bytes say JPEG, PNG or PDF **and** it reads completely as that:

- photos are decoded by Pillow (every pixel; decompression bombs refused) and stored
  re-encoded in their own format with the orientation applied and all metadata dropped
  (no GPS position of the person's phone kept, no comment or appended bytes: whatever
  a polyglot carried after or inside the image is gone); the original's sha256 and size
  are kept on the row;
- PDFs are parsed by pypdf (page count within the limit) and refused if they contain
  active content (JavaScript, launch actions, embedded files, forms that run scripts)
  or bytes after the last ``%%EOF``. They are stored as sent and only ever served as a
  download (``Content-Disposition: attachment``).

Every refusal is one ``FileRefused`` (a ``ValueError``) naming the file and what was expected.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

log = logging.getLogger(__name__)

EXPECTED = "expected a JPEG or PNG photo or a PDF document"
MAX_PIXELS = 40_000_000
JPEG, PNG, PDF = "image/jpeg", "image/png", "application/pdf"
_MAGIC = ((b"\xff\xd8\xff", JPEG), (b"\x89PNG\r\n\x1a\n", PNG), (b"%PDF-", PDF))
_PIL_FORMAT = {JPEG: "JPEG", PNG: "PNG"}
# PDF names that make a viewer run or open something.
_ACTIVE = re.compile(
    rb"/(JavaScript|JS|Launch|EmbeddedFile|EmbeddedFiles|RichMedia|XFA|SubmitForm|ImportData)\b"
)
_NAME_CLEAN = re.compile(r"[^\w.\- ]+")


class FileRefused(ValueError):
    """This file is not accepted; the message names it and says why."""


@dataclass(frozen=True)
class CheckedFile:
    """One accepted file: the bytes to store and what was learned about them."""

    filename: str
    data: bytes  # to store (a photo re-encoded)
    media_type: str
    original_sha256: str
    original_size: int
    width: int | None = None
    height: int | None = None
    pages: int | None = None

    @property
    def extension(self) -> str:
        return {JPEG: "jpg", PNG: "png", PDF: "pdf"}[self.media_type]


def clean_filename(name: str) -> str:
    """The name as shown back (never used as a path): safe characters, at most 100."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _NAME_CLEAN.sub("_", base).strip(" .") or "file"
    return cleaned[:100]


def sniff(data: bytes) -> str | None:
    for magic, media_type in _MAGIC:
        if data.startswith(magic):
            return media_type
    return None


def check_file(name: str, data: bytes, max_bytes: int, max_pdf_pages: int) -> CheckedFile:
    """Accept ``data`` as a photo or PDF, or raise ``ValueError`` naming ``name``."""
    import hashlib

    shown = clean_filename(name)
    if not data:
        raise FileRefused(f"{shown}: empty file ({EXPECTED})")
    if len(data) > max_bytes:
        # (no count: a page upload is read only to one byte past the limit)
        raise FileRefused(f"{shown}: larger than the limit of {max_bytes} bytes")
    media_type = sniff(data)
    if media_type is None:
        raise FileRefused(f"{shown}: not a JPEG, PNG or PDF by its content ({EXPECTED})")
    sha = hashlib.sha256(data).hexdigest()
    if media_type == PDF:
        pages = _check_pdf(shown, data, max_pdf_pages)
        return CheckedFile(shown, data, PDF, sha, len(data), pages=pages)
    out, w, h = _reencode(shown, data, media_type)
    return CheckedFile(shown, out, media_type, sha, len(data), width=w, height=h)


def _reencode(shown: str, data: bytes, media_type: str) -> tuple[bytes, int, int]:
    unreadable = f"{shown}: not a readable {_PIL_FORMAT[media_type]} image ({EXPECTED})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.format != _PIL_FORMAT[media_type]:
                    raise FileRefused(unreadable)
                w, h = img.size
                if w * h > MAX_PIXELS:
                    raise FileRefused(f"{shown}: {w}x{h} pixels, more than {MAX_PIXELS}")
                img.load()  # every pixel: truncated or corrupt data fails here
                upright = ImageOps.exif_transpose(img)
                if media_type == JPEG:
                    if upright.mode not in ("RGB", "L"):
                        upright = upright.convert("RGB")
                    buf = io.BytesIO()
                    upright.save(buf, "JPEG", quality=92)
                else:
                    if upright.mode not in ("RGB", "RGBA", "L", "LA", "P"):
                        upright = upright.convert("RGBA")
                    buf = io.BytesIO()
                    upright.save(buf, "PNG", optimize=False)
                return buf.getvalue(), upright.size[0], upright.size[1]
    except FileRefused:
        raise
    except Exception:  # hostile bytes: whatever Pillow raises means "not readable"
        raise FileRefused(unreadable) from None


def _check_pdf(shown: str, data: bytes, max_pages: int) -> int:
    import pypdf

    end = data.rfind(b"%%EOF")
    if end < 0 or data[end + 5 :].strip(b"\r\n\t \x00"):
        raise FileRefused(f"{shown}: not a complete PDF (data after its end, or no end marker)")
    if _ACTIVE.search(data):
        raise FileRefused(
            f"{shown}: a PDF with active content (scripts, actions or embedded files)"
        )
    try:
        # strict: refuse what a lenient reader would repair; pypdf logs repairs as warnings.
        logging.getLogger("pypdf").setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = pypdf.PdfReader(io.BytesIO(data), strict=True)
            if reader.is_encrypted:
                raise FileRefused(f"{shown}: an encrypted PDF (send it without a password)")
            pages = len(reader.pages)
            # Scripts can hide in compressed object streams: look at the decoded objects.
            root = reader.trailer["/Root"]
            if any(k in root for k in ("/OpenAction", "/AA", "/AcroForm", "/Names")):
                names = root.get("/Names")
                if (
                    "/OpenAction" in root
                    or "/AA" in root
                    or (names is not None and ("/JavaScript" in names or "/EmbeddedFiles" in names))
                ):
                    raise FileRefused(f"{shown}: a PDF with active content (automatic actions)")
            for page in reader.pages:
                if "/AA" in page:
                    raise FileRefused(f"{shown}: a PDF with active content (page actions)")
                for annot in page.get("/Annots") or []:
                    a = annot.get_object()
                    action = a.get("/A")
                    if action is not None and action.get_object().get("/S") in (
                        "/JavaScript", "/Launch", "/SubmitForm", "/ImportData",
                    ):  # fmt: skip
                        raise FileRefused(f"{shown}: a PDF with active content (link actions)")
                page.extract_text()  # reads the page's content stream: broken data fails
    except FileRefused:
        raise
    except Exception as e:  # hostile bytes: whatever pypdf raises means "not readable"
        log.info("appeal file %s: PDF refused: %s", shown, e)
        raise FileRefused(f"{shown}: not a readable PDF ({EXPECTED})") from None
    if pages < 1:
        raise FileRefused(f"{shown}: a PDF without pages")
    if pages > max_pages:
        raise FileRefused(f"{shown}: {pages} pages, more than the limit of {max_pages}")
    return pages
