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
    """Blobs as files ``<root>/ab/cd/<sha256>``, written atomically (tmp + rename).

    Owner-only whatever the umask: directories 0700, files 0600 (mkstemp), so faces and
    evidence frames are readable by central's user alone; a root readable by others is
    tightened at start."""

    def __init__(self, root: Path | str) -> None:
        from central.store.db import private_dir

        self.root = Path(root)
        private_dir(self.root)
        if self.root.stat().st_mode & 0o077:
            try:
                os.chmod(self.root, 0o700)
                log.warning("evidence dir %s was readable by others: now 0700", self.root)
            except OSError as e:  # not ours to change (e.g. a mount): say so, carry on
                log.warning("evidence dir %s is readable by others (%s)", self.root, e)

    def _path(self, sha256: str) -> Path:
        if not _HEX64.match(sha256):
            raise ValueError(f"evidence name: expected 64 lowercase hex digits, got {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        name = hashlib.sha256(data).hexdigest()
        path = self._path(name)
        if path.exists():
            return name
        if not path.parent.is_dir():
            from central.store.db import private_dir

            private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # 0600
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
