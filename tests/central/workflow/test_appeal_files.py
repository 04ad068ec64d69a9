"""Appeal files are what their content says, whatever their name: hostile uploads
(wrong magic, truncated, polyglots, oversize, zero bytes, scripts in PDFs) are refused
with one message naming the file; good photos are stored re-encoded without metadata."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from reportlab.pdfgen import canvas

from central.workflow.appeal_files import JPEG, PDF, PNG, FileRefused, check_file, clean_filename

LIMIT = 1024 * 1024


def photo(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), exif: bool = False) -> bytes:
    img = Image.new("RGB", size, (200, 30, 30))
    for x in range(size[0]):
        img.putpixel((x, x % size[1]), (0, 0, 255))
    buf = io.BytesIO()
    kw = {}
    if exif:
        ex = Image.Exif()
        ex[0x010F] = "PhoneMaker"  # Make
        ex[0x0112] = 6  # Orientation: rotate 90 CW to display
        kw["exif"] = ex.tobytes()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def pdf(pages: int = 1) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    for i in range(pages):
        c.drawString(72, 720, f"Receipt page {i + 1}: the signal was broken")
        c.showPage()
    c.save()
    return buf.getvalue()


def check(name: str, data: bytes, max_bytes: int = LIMIT, pages: int = 5):  # type: ignore[no-untyped-def]
    return check_file(name, data, max_bytes, pages)


def test_a_photo_is_accepted_and_stored_without_its_metadata() -> None:
    raw = photo(exif=True)
    assert b"PhoneMaker" in raw
    got = check("IMG_0001.jpg", raw)
    assert got.media_type == JPEG
    assert b"PhoneMaker" not in got.data  # metadata dropped
    assert (got.width, got.height) == (48, 64)  # orientation applied: portrait now
    assert got.original_size == len(raw) and got.data != raw
    png = check("shot.png", photo("PNG"))
    assert png.media_type == PNG and png.data.startswith(b"\x89PNG")


def test_type_comes_from_content_not_the_name() -> None:
    got = check("evil.pdf.exe", photo("PNG"))
    assert got.media_type == PNG and got.extension == "png"
    assert check("photo.jpg", pdf()).media_type == PDF


def test_a_pdf_is_accepted_with_its_page_count() -> None:
    got = check("receipt.pdf", pdf(pages=3))
    assert got.media_type == PDF and got.pages == 3
    with pytest.raises(FileRefused, match=r"receipt\.pdf: 6 pages, more than the limit of 5"):
        check("receipt.pdf", pdf(pages=6))


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.jpg", b"", r"empty\.jpg: empty file"),
        ("x.jpg", b"MZ\x90\x00" + bytes(200), r"x\.jpg: not a JPEG, PNG or PDF by its content"),
        ("page.html", b"<html><script>alert(1)</script></html>", r"page\.html: not a JPEG"),
        ("svg.png", b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>', "not a JPEG"),
        ("gif.jpg", b"GIF89a" + bytes(40), r"gif\.jpg: not a JPEG, PNG or PDF"),
        # Right magic, not an image: the first bytes of a JPEG, then junk.
        (
            "fake.jpg",
            b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4,
            r"fake\.jpg: not a readable JPEG",
        ),
        ("fake.png", b"\x89PNG\r\n\x1a\n" + b"junk" * 100, r"fake\.png: not a readable PNG"),
        (
            "fake.pdf",
            b"%PDF-1.7\n" + b"junk" * 100 + b"\n%%EOF\n",
            r"fake\.pdf: not a readable PDF",
        ),
    ],
)
def test_hostile_bytes_are_refused_with_one_clear_message(
    name: str, data: bytes, message: str
) -> None:
    with pytest.raises(FileRefused, match=message):
        check(name, data)


def test_truncated_images_are_refused() -> None:
    for fmt, label in (("JPEG", "JPEG"), ("PNG", "PNG")):
        data = photo(fmt, size=(300, 300))
        with pytest.raises(FileRefused, match=f"cut: not a readable {label}"):
            check("cut", data[: len(data) // 2])


def test_oversize_is_refused_before_decoding() -> None:
    data = photo()
    with pytest.raises(
        FileRefused, match=rf"big\.jpg: larger than the limit of {len(data) - 1} bytes"
    ):
        check("big.jpg", data, max_bytes=len(data) - 1)


def test_decompression_bomb_is_refused() -> None:
    buf = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buf, "PNG")  # small file, 400 M pixels
    with pytest.raises(FileRefused, match=r"bomb\.png: (20000x20000 pixels|not a readable)"):
        check("bomb.png", buf.getvalue(), max_bytes=10 * LIMIT)


def test_polyglots_lose_or_are_refused_their_payload() -> None:
    # A JPEG with an HTML page (or a zip) after its end: the stored copy is re-encoded,
    # so the payload is not kept.
    payload = b"<html><script>alert(document.cookie)</script></html>PK\x03\x04"
    got = check("poly.jpg", photo() + payload)
    assert payload not in got.data and b"<script" not in got.data
    png = check("poly.png", photo("PNG") + payload)
    assert b"<script" not in png.data
    # A PDF with bytes after its end (a GIFAR-style appended archive) is refused.
    with pytest.raises(FileRefused, match=r"poly\.pdf: not a complete PDF"):
        check("poly.pdf", pdf() + payload)
    # A PDF that starts as an image: the magic says JPEG, it does not decode as one.
    with pytest.raises(FileRefused, match="not a readable JPEG"):
        check("both", b"\xff\xd8\xff\xe0" + pdf())


@pytest.mark.parametrize(
    "active",
    [
        b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >>",
        b"/Names << /EmbeddedFiles 3 0 R >>",
        b"/AA << /O << /S /Launch /F (cmd.exe) >> >>",
    ],
)
def test_pdfs_with_active_content_are_refused(active: bytes) -> None:
    data = pdf().replace(b"/Type /Catalog", b"/Type /Catalog " + active, 1)
    assert active in data
    with pytest.raises(FileRefused, match="a PDF with active content"):
        check("form.pdf", data)


def test_file_names_are_cleaned_for_display() -> None:
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename('C:\\x\\"><img src=x>.jpg') == "_img src_x_.jpg"
    assert clean_filename("") == "file"
    assert len(clean_filename("a" * 500)) == 100
