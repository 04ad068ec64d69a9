"""The evidence package: exported by the CLI, downloaded by staff (API, console) and by
the person (notice page), checked by its own verifier run as a plain Python process
with only ``cryptography`` importable; a PDF page rendered to PNG is not blank."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import cryptography
import numpy as np
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from PIL import Image

from central.evidence import standalone_verify
from central.store.models import AuditEntry
from jaywatch import wire
from tests.central.evidence.world import Served
from tests.services import Broker

PDFTOPPM = shutil.which("pdftoppm")
PDFTOTEXT = shutil.which("pdftotext")


@pytest.fixture
def served(tmp_path: Path, db_url: str, make_broker: Callable[..., Broker]) -> Iterator[Served]:
    s = Served(tmp_path, db_url, make_broker()).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def plain_python(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """This interpreter without site-packages (``-S``: neither jaywatch nor anything else
    installed), with a folder holding only ``cryptography`` and what it imports (cffi)."""
    only = tmp_path_factory.mktemp("only-cryptography")
    site = Path(cryptography.__file__).parents[1]
    for name in ("cryptography", "cffi"):
        (only / name).symlink_to(site / name)
    for so in site.glob("_cffi_backend*.so"):
        (only / so.name).symlink_to(so)
    boot = (
        f"import sys; sys.path.insert(0, {str(only)!r}); import runpy; "
        "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    return [sys.executable, "-S", "-c", boot]


def run_verifier(plain: list[str], folder: Path, target: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*plain, str(folder / "verify.py"), str(target)],
        capture_output=True, text=True, timeout=60, cwd=folder, env={"PATH": os.environ["PATH"]},
    )  # fmt: skip


def unzip(data: bytes, to: Path) -> dict[str, bytes]:
    to.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        z.extractall(to)
        return {n: z.read(n) for n in z.namelist()}


def rezip(files: dict[str, bytes], path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for n, d in files.items():
            z.writestr(n, d)
    return path


def flip(data: bytes, at: int) -> bytes:
    b = bytearray(data)
    b[at] ^= 0x01
    return bytes(b)


@pytest.mark.timeout(300)
def test_exported_package_verifies_standalone_and_a_changed_byte_fails(
    served: Served, tmp_path: Path, plain_python: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    eid = served.publish(served.violation(clip=True))
    ref, code = served.confirm_via_api(eid)
    citizen_appeal = served.api("ada").post(
        "/notice/appeal", data={"reference": ref, "code": code, "statement": "Signal was green"}
    )
    assert citizen_appeal.status_code == 200
    appeals = served.api("sam").get("/api/appeals").json()
    (appeal,) = [a for a in appeals if a["fine_reference"] == ref]
    r = served.api("sam").post(
        f"/api/appeals/{appeal['id']}/decide", json={"uphold": False, "note": "Red for 6.4 s"}
    )
    assert r.status_code == 200, r.text

    out = tmp_path / "pkg.zip"
    capsys.readouterr()
    assert served.cli("evidence", "export", ref, "--out", str(out)) == 0
    assert "sha256" in capsys.readouterr().out
    files = unzip(out.read_bytes(), tmp_path / "pkg")
    assert {
        "README.txt", "evidence.pdf", "signed_message.json", "device_public_key.pem",
        "verify.py", "manifest.json", "images/01-before.jpg", "images/02-entry.jpg",
        "images/03-after.jpg", "images/04-face.jpg", "clip.webm",
    } == set(files)  # fmt: skip
    assert hashlib.sha256(files["clip.webm"]).hexdigest() == served.blob_path(eid, "clip").name

    # The message is the gateway's, byte for byte as it was signed and sent.
    sent = json.loads(files["signed_message.json"])
    assert sent["event_id"] == eid and wire.verify_message(
        wire.ViolationEvent.model_validate(sent), wire.public_key_bytes(served.key)
    )
    key = serialization.load_pem_public_key(files["device_public_key.pem"])
    assert key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    ) == wire.public_key_bytes(served.key)

    # The verifier, without jaywatch: first prove jaywatch is not importable there.
    probe = subprocess.run(
        [*plain_python[:3], "import central"], capture_output=True, text=True, timeout=30,
        cwd=tmp_path, env={"PATH": os.environ["PATH"]},
    )  # fmt: skip
    assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr
    ok = run_verifier(plain_python, tmp_path / "pkg", out)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "signature valid" in ok.stdout and ok.stdout.count("matches the signed image") == 4
    assert "clip.webm: matches the signed sha256" in ok.stdout
    assert run_verifier(plain_python, tmp_path / "pkg", tmp_path / "pkg").returncode == 0  # folder

    # One byte changed in an image, in the message: named, exit 1.
    bad = rezip({**files, "images/02-entry.jpg": flip(files["images/02-entry.jpg"], 500)},
                tmp_path / "bad-image.zip")  # fmt: skip
    r = run_verifier(plain_python, tmp_path / "pkg", bad)
    assert r.returncode == 1 and "FAIL  images/02-entry.jpg: ALTERED" in r.stdout
    bad = rezip({**files, "clip.webm": flip(files["clip.webm"], 1000)}, tmp_path / "bad-clip.zip")
    r = run_verifier(plain_python, tmp_path / "pkg", bad)
    assert r.returncode == 1 and "FAIL  clip.webm: ALTERED" in r.stdout
    msg = files["signed_message.json"]
    at = msg.index(b'"red_for_s":') + len(b'"red_for_s":')  # 6.4 -> 7.4
    bad = rezip({**files, "signed_message.json": flip(msg, at)}, tmp_path / "bad-msg.zip")
    r = run_verifier(plain_python, tmp_path / "pkg", bad)
    assert r.returncode == 1 and "signature INVALID" in r.stdout
    at = msg.index(b'"jpeg_b64":"') + 400  # inside an image inside the message
    bad = rezip({**files, "signed_message.json": flip(msg, at)}, tmp_path / "bad-msg2.zip")
    assert run_verifier(plain_python, tmp_path / "pkg", bad).returncode == 1

    # The Debian python3 with its own (older) cryptography runs it too, when present.
    system = Path("/usr/bin/python3")
    if system.exists() and subprocess.run([system, "-c", "import cryptography"]).returncode == 0:
        r = subprocess.run([system, str(tmp_path / "pkg" / "verify.py"), str(out)],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr

    # The PDF: a page rendered to PNG has ink; its text has the facts and the history.
    pdf = tmp_path / "pkg" / "evidence.pdf"
    assert PDFTOPPM and PDFTOTEXT, "poppler-utils (scripts/setup.sh) provides pdftoppm"
    subprocess.run([PDFTOPPM, "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "page")], check=True, timeout=60)  # fmt: skip
    (png,) = tmp_path.glob("page*.png")
    px = np.asarray(Image.open(png).convert("L"))
    ink = float((px < 200).mean())
    assert ink > 0.01, f"page 1 is (almost) blank: {ink:.4f} of pixels dark"
    assert px.std() > 20  # an image on it, not only a line of text
    text = subprocess.run([PDFTOTEXT, str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    for needle in (
        ref,
        eid,
        "Decision history",
        "operator:olive",
        "event.confirm",
        "appeal.submit",
        "appeal.deny",
        "supervisor:sam",
        "denied",
        "Red for 6.4 s",
    ):
        assert needle in text, needle  # fmt: skip


@pytest.mark.timeout(300)
def test_staff_and_citizen_downloads_are_audited_and_verify(
    served: Served, tmp_path: Path, plain_python: list[str]
) -> None:
    eid = served.publish(served.violation())
    ref, code = served.confirm_via_api(eid)
    pkgs = {}
    r = served.api("aud").get(f"/api/evidence-packages/{ref}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    pkgs["api"] = r.content
    console = served.console("sam")
    page = console.get(f"/console/events/{eid}")
    assert 'id="package-link"' in page.text
    r = console.get(f"/console/events/{eid}/package.zip")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    pkgs["console"] = r.content
    anyone = served.api("ada")
    page = anyone.post("/notice", data={"reference": ref, "code": code})
    assert 'id="package-form"' in page.text
    r = anyone.post("/notice/package", data={"reference": ref, "code": "WRONGCODE1"})
    assert r.status_code == 403  # the access code is the key to the person's own package
    r = anyone.post("/notice/package", data={"reference": ref, "code": code})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    pkgs["citizen"] = r.content
    assert served.api("olive").get("/api/evidence-packages/JW-NOPE-NOPE").status_code == 404

    for name, data in pkgs.items():
        path = tmp_path / f"{name}.zip"
        path.write_bytes(data)
        unzip(data, tmp_path / name)
        r = run_verifier(plain_python, tmp_path / name, path)
        assert r.returncode == 0, (name, r.stdout)
    with served.ctx.sessions() as s:
        rows = s.execute(
            sa.select(AuditEntry.actor, AuditEntry.details).where(
                AuditEntry.action == "evidence.export"
            )
        ).all()
    actors = sorted(a for a, _ in rows)
    assert actors == sorted(["auditor:aud", "supervisor:sam", f"citizen:{ref}"])
    shas = {d["sha256"] for _, d in rows}
    assert shas == {hashlib.sha256(d).hexdigest() for d in pkgs.values()}


def test_verifier_checks_a_clip_named_in_the_signed_message(tmp_path: Path) -> None:
    """A message with a clip (sha256 signed): the clip file must match; a changed byte or
    a missing clip fails. Built here by hand: the gateway's clip arrives with issue 13's
    edge half."""
    key = wire.generate_device_key()
    clip = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
    jpeg = Image.new("RGB", (16, 16), (200, 30, 30))
    buf = io.BytesIO()
    jpeg.save(buf, "JPEG")
    body = {
        "kind": "violation", "event_id": "e" * 36, "device_id": "gw",
        "evidence": [{"role": "entry", "jpeg_b64": base64.b64encode(buf.getvalue()).decode()}],
        "clip": {"sha256": hashlib.sha256(clip).hexdigest(), "media_type": "video/mp4"},
    }  # fmt: skip
    body["signature"] = base64.b64encode(key.sign(standalone_verify.canonical(body))).decode()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    files = {
        "signed_message.json": json.dumps(body).encode(),
        "device_public_key.pem": pem,
        "images/01-entry.jpg": buf.getvalue(),
        "clip.mp4": clip,
    }
    results = standalone_verify.check_package(files)
    assert all(ok for ok, _ in results) and len(results) == 3, results
    bad = standalone_verify.check_package({**files, "clip.mp4": flip(clip, 100)})
    assert [what for ok, what in bad if not ok] == [
        "clip.mp4: ALTERED (sha256 differs from the signed one)"
    ]
    missing = {k: v for k, v in files.items() if k != "clip.mp4"}
    assert not all(ok for ok, _ in standalone_verify.check_package(missing))
    other = (
        wire.generate_device_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    wrong_key = standalone_verify.check_package({**files, "device_public_key.pem": other})
    assert wrong_key == [
        (False, "signed_message.json: signature INVALID: the signature does not verify "
                "with the device key")
    ]  # fmt: skip
