"""Content-addressed evidence blobs: the name of a blob is the sha256 of its bytes.

Identical images are stored once, a blob can be checked against its name at any time,
and an object store (S3 and the like) can implement the same ``EvidenceStore`` protocol.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class EvidenceStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store ``data`` (idempotent); return its sha256 hex name."""

    def get(self, sha256: str) -> bytes:
        """The bytes named ``sha256``; KeyError when absent."""

    def exists(self, sha256: str) -> bool: ...

    def delete(self, sha256: str) -> None:
        """Remove a blob (absent is fine)."""


class FileEvidenceStore:
    """Blobs as files ``<root>/ab/cd/<sha256>``, written atomically (tmp + rename)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> Path:
        if not _HEX64.match(sha256):
            raise ValueError(f"evidence name: expected 64 lowercase hex digits, got {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        name = hashlib.sha256(data).hexdigest()
        path = self._path(name)
        if path.exists():
            return name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return name

    def get(self, sha256: str) -> bytes:
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError:
            raise KeyError(sha256) from None

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)


_PENDING = "jaywatch.delete_after_commit"


def delete_after_commit(session: Session, store: EvidenceStore, shas: list[str]) -> None:
    """Delete the blobs ``shas`` from ``store`` once ``session``'s transaction commits.

    Deleting inside the transaction would leave rows pointing at missing bytes if the
    commit then failed (and the rows came back). A rollback or a close without commit
    forgets the deletions. A failed delete after the commit is logged, not raised: the
    rows are already gone, so the caller cannot undo anything.
    """
    if _PENDING not in session.info:
        session.info[_PENDING] = []
        sa.event.listen(session, "after_commit", _run_pending)
        sa.event.listen(session, "after_transaction_end", _forget_pending)
    session.info[_PENDING].extend((store, sha) for sha in shas)


def _run_pending(session: Session) -> None:
    pending, session.info[_PENDING] = session.info[_PENDING], []
    for store, sha in pending:
        try:
            store.delete(sha)
        except Exception:  # committed already: report, keep deleting the rest
            log.exception("blob %s: delete after commit failed; the file is orphaned", sha)


def _forget_pending(session: Session, transaction: SessionTransaction, *_: Any) -> None:
    if transaction.parent is None:  # the outermost transaction ended: rolled back or closed
        session.info[_PENDING] = []
