#!/usr/bin/env python3
"""Check a jaywatch evidence package without jaywatch: Python 3.9+ and `cryptography`.

    pip install cryptography
    python3 verify.py PACKAGE.zip        (or the folder the package was unzipped into)

It checks, and prints one line per check:
1. the device's Ed25519 signature over the signed message (signed_message.json): the
   signature covers the message's canonical JSON without its "signature" field (keys
   sorted, no whitespace, UTF-8), so one changed byte of the message breaks it;
2. every image in images/: its bytes are exactly the image inside the signed message;
3. the clip (clip.*), when the message names one: its sha256 is the one in the message
   (and the clip's bytes inside the message, when they travel there, hash to it too).
Exit status 0 when everything holds, 1 when anything does not (named on stdout),
2 when the package cannot be read.

This file is the whole verifier: read it. central's own `jaywatch central evidence
verify` runs these same functions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import sys
import zipfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

MESSAGE = "signed_message.json"
PUBLIC_KEY = "device_public_key.pem"


def canonical(body: dict) -> bytes:
    """The bytes the device signed: the message without "signature", keys sorted."""
    body = {k: v for k, v in body.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signed_body(message: bytes, public_key: Ed25519PublicKey) -> tuple[dict | None, str]:
    """(the message's JSON, "") when ``message`` (a signed message's bytes) is signed by
    ``public_key``; (None, why) when not."""
    try:
        body = json.loads(message)
    except (ValueError, UnicodeDecodeError) as e:
        return None, f"not JSON ({e})"
    if not isinstance(body, dict) or not isinstance(body.get("signature"), str):
        return None, 'no "signature" field'
    try:
        sig = base64.b64decode(body["signature"], validate=True)
        public_key.verify(sig, canonical(body))
    except (InvalidSignature, binascii.Error, ValueError):
        return None, "the signature does not verify with the device key"
    return body, ""


def signed_images(body: dict) -> list[tuple[str, str]]:
    """(role, sha256 hex) of each image inside the signed message, in order."""
    out = []
    for img in body.get("evidence") or []:
        data = base64.b64decode(img.get("jpeg_b64") or "", validate=True)
        out.append((str(img.get("role")), hashlib.sha256(data).hexdigest()))
    return out


def signed_clip_sha256(body: dict) -> str | None:
    """The clip's sha256 as signed, or None when the message has no clip."""
    clip = body.get("clip")
    return str(clip["sha256"]) if isinstance(clip, dict) and clip.get("sha256") else None


def inline_clip_holds(body: dict) -> bool:
    """When the signed message carries the clip's bytes too (``webm_b64``), they hash to
    its signed sha256 (True also when it carries none)."""
    clip = body.get("clip")
    if not isinstance(clip, dict) or not clip.get("webm_b64"):
        return True
    data = base64.b64decode(clip["webm_b64"], validate=True)
    return hashlib.sha256(data).hexdigest() == clip.get("sha256")


def image_name(position: int, role: str) -> str:
    return f"images/{position + 1:02d}-{role}.jpg"


def _files(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return {
            p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()
        }
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}


def check_package(files: dict[str, bytes]) -> list[tuple[bool, str]]:
    """Every check on a package's files (name → bytes): (holds, what)."""
    results: list[tuple[bool, str]] = []
    try:
        key = load_pem_public_key(files[PUBLIC_KEY])
    except KeyError:
        return [(False, f"{PUBLIC_KEY}: missing")]
    except ValueError as e:
        return [(False, f"{PUBLIC_KEY}: not a PEM public key ({e})")]
    if not isinstance(key, Ed25519PublicKey):
        return [(False, f"{PUBLIC_KEY}: not an Ed25519 key")]
    message = files.get(MESSAGE)
    if message is None:
        return [(False, f"{MESSAGE}: missing")]
    body, why = signed_body(message, key)
    results.append(
        (body is not None, f"{MESSAGE}: signature " + (f"INVALID: {why}" if why else "valid"))
    )
    if body is None:
        return results
    for pos, (role, sha) in enumerate(signed_images(body)):
        name = image_name(pos, role)
        data = files.get(name)
        if data is None:
            results.append((False, f"{name}: missing (the signed message has this image)"))
        elif hashlib.sha256(data).hexdigest() != sha:
            results.append((False, f"{name}: ALTERED (sha256 differs from the signed image)"))
        else:
            results.append((True, f"{name}: matches the signed image (sha256 {sha})"))
    clip_sha = signed_clip_sha256(body)
    if not inline_clip_holds(body):
        results.append((False, f"{MESSAGE}: the clip inside it does not match its sha256"))
    clips = [n for n in files if n.startswith("clip.")]
    if clip_sha is None:
        if clips:
            results.append((False, f"{clips[0]}: the signed message names no clip"))
    elif not clips:
        results.append((False, "clip: missing (the signed message names one)"))
    else:
        got = hashlib.sha256(files[clips[0]]).hexdigest()
        if got == clip_sha:
            results.append((True, f"{clips[0]}: matches the signed sha256 {clip_sha}"))
        else:
            results.append((False, f"{clips[0]}: ALTERED (sha256 differs from the signed one)"))
    return results


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python3 verify.py PACKAGE.zip|FOLDER", file=sys.stderr)
        return 2
    try:
        files = _files(Path(argv[0]))
    except (OSError, zipfile.BadZipFile) as e:
        print(f"error: cannot read {argv[0]}: {e}", file=sys.stderr)
        return 2
    results = check_package(files)
    for ok, what in results:
        print(("OK    " if ok else "FAIL  ") + what)
    good = all(ok for ok, _ in results)
    print("ALL CHECKS PASSED" if good else "VERIFICATION FAILED")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
