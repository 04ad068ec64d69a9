"""Secrets kept in files (``*_file`` config keys): read, stripped, checked."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def read_secret_file(path: str | Path, key: str, min_length: int = 16) -> bytes:
    """The file's content without surrounding whitespace; ValueError naming ``key`` and
    the file if it is missing, readable by others, or shorter than ``min_length``."""
    p = Path(path)
    try:
        st = p.stat()
        data = p.read_bytes().strip()
    except FileNotFoundError:
        raise ValueError(f"{key}: {p}: file not found") from None
    except OSError as e:
        raise ValueError(f"{key}: {p}: {e.strerror}") from None
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{key}: {p}: readable by group or others (chmod 600 {p})")
    if len(data) < min_length:
        raise ValueError(f"{key}: {p}: expected a secret of at least {min_length} bytes")
    return data
