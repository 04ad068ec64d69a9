"""Ed25519 signing keys on disk: a gateway's device key and central's key.

The device key proves to central (and to a court) that an event came from this gateway
unchanged; central's key proves acks and gallery announcements came from central. So a
key is written owner-only (0600), atomically, and a key file others can read is refused
at load, the way ssh refuses a world-readable identity: a leaked key lets anyone forge
messages in its owner's name.
"""

from __future__ import annotations

import base64
import contextlib
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jaywatch.wire import generate_device_key, public_key_bytes


class KeyFileError(ValueError):
    """A key file that cannot be used; the message names the file and the fix."""


def public_key_b64(key: Ed25519PrivateKey) -> str:
    """The raw 32-byte public key in base64: what central registers for the device."""
    return base64.b64encode(public_key_bytes(key)).decode()


def generate_key_file(path: str | Path, *, overwrite: bool = False) -> Ed25519PrivateKey:
    """Create a new key and write it as unencrypted PKCS#8 PEM with mode 0600.

    The file is written to a temporary sibling, fsynced and renamed, so a power cut
    never leaves a half-written key; an existing key is kept unless ``overwrite`` (a
    replaced key invalidates the device's registration at central).
    """
    p = Path(path)
    if p.exists() and not overwrite:
        raise KeyFileError(f"{p}: already exists (refusing to replace a signing key; use --force)")
    if not p.parent.is_dir():
        raise KeyFileError(f"{p.parent}: directory does not exist")
    key = generate_device_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)  # the umask cannot widen it, but be explicit
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    dir_fd = os.open(p.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return key


def load_key_file(path: str | Path, *, keygen: str) -> Ed25519PrivateKey:
    """Load a key, refusing a missing, foreign, or group/other-readable file.

    ``keygen`` names the command that makes one (for the error message).
    """
    p = Path(path)
    if not p.is_file():
        raise KeyFileError(f"{p}: key file not found (create one with `{keygen} --out {p}`)")
    mode = stat.S_IMODE(p.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"{p}: permissions {mode:04o} are too open; a signing key must be readable by its "
            f"owner only (chmod 600 {p})"
        )
    try:
        key = serialization.load_pem_private_key(p.read_bytes(), password=None)
    except (ValueError, TypeError) as e:
        raise KeyFileError(f"{p}: not an unencrypted PEM private key ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{p}: expected an Ed25519 private key, got {type(key).__name__}")
    return key
