"""The background task of ``central serve`` that turns confirmations into sanctions once
their undo window has passed (``review.issue_due``).

Every serve process runs one; they may all look at the same rows: the claim inside
``issue_due`` is a conditional update, so each fine is issued exactly once. State lives
only in the database, so a restart loses nothing: the next pass issues what fell due
while central was down.
"""

from __future__ import annotations

import logging
import threading

from central.context import Context
from central.workflow import review

log = logging.getLogger(__name__)


class SanctionIssuer:
    def __init__(self, ctx: Context, poll_s: float, max_backoff_s: float = 30.0) -> None:
        self.ctx = ctx
        self.poll_s = poll_s
        self.max_backoff_s = max_backoff_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.issued = 0

    def run_once(self) -> int:
        """One pass: the fines issued now (their count)."""
        fines = review.issue_due(self.ctx.sessions.begin, self.ctx.rules, self.ctx.evidence)
        for f in fines:
            log.info("undo window passed: fine %s issued", f.reference)
        self.issued += len(fines)
        return len(fines)

    def _run(self) -> None:
        wait = self.poll_s
        while not self._stop.is_set():
            try:
                self.run_once()
                wait = self.poll_s
            except Exception:  # the database is down, a bug: log, back off, keep going
                log.exception("issuing due sanctions failed; retrying in %.1f s", wait)
                wait = min(wait * 2, self.max_backoff_s)
            self._stop.wait(wait)

    def start(self) -> SanctionIssuer:
        self._thread = threading.Thread(target=self._run, name="sanction-issuer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
