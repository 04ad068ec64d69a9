"""The gateway's Ed25519 device key on disk (the shared rules are in jaywatch.keys)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jaywatch.keys import KeyFileError, generate_key_file, load_key_file, public_key_b64

__all__ = ["KeyFileError", "generate_key_file", "load_device_key", "public_key_b64"]


def load_device_key(path: str | Path) -> Ed25519PrivateKey:
    """Load the device key, refusing a missing, foreign, or group/other-readable file."""
    return load_key_file(path, keygen="jaywatch edge keygen")
