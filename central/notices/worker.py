"""The SMS sender: drains the ``notices`` outbox exactly once, with retries.

Life of a notice (``Notice.status``)::

    pending ──claim──► submitting ──accepted, ids recorded──► sent ──receipts──► delivered
       ▲                  │  │  └─ refused for good / last retry ──► paper_required
       └── not sent: back-off ┘  └─ interrupted, provider cannot de-duplicate ──► check_required

Exactly once. The claim transaction marks the notice 'submitting' and records what
is about to be sent (destination, text, idempotency key) BEFORE the provider is
called; the provider's message ids and 'sent' are then written in one transaction.
The only unsafe window is between the provider accepting and that commit (crash,
kill -9, DB outage). A notice found in 'submitting' after its lease has expired is
in exactly that state, and we cannot know whether the SMS left:
- an idempotent provider (an HTTP gateway that honours ``Idempotency-Key``) is asked
  again with the SAME key and text: it returns the original message instead of a
  second SMS;
- SMPP and Twilio cannot de-duplicate, so resubmitting could send a second fine
  notice. The notice goes to 'check_required' instead: an operator checks the
  provider's records and resolves it (:func:`central.notices.status.resolve_check`).
  A delayed notice is recoverable; a second fine SMS confuses and alarms people.
Claiming is safe with any number of workers: ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, and on SQLite a single conditional ``UPDATE … RETURNING`` (SQLite has one
writer, and the status condition makes a second claim of the same row a no-op).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from central.notices.config import NoticesConfig
from central.notices.kinds import FineIssued, parse_params
from central.notices.models import NoticeDelivery, NoticePart, lock_for_write
from central.notices.providers.base import MaybeSent, NotSent, SmsProvider, Submission
from central.notices.receipts import apply_receipt
from central.notices.templates import TemplateError, render
from central.phones import to_e164
from central.store.models import Notice, Person, utcnow
from central.store.status import NoticeStatus

log = logging.getLogger(__name__)

# The citizen's access code is in a fine notice's params only until its text is rendered
# (in the claim transaction, before anything is sent). From then on the code exists only
# in that text (notice_deliveries.text, redacted by retention) and, hashed, on the fine;
# the params keep the marker ``access_code_in_text`` (FineIssued.without_access_code) so a
# retry resends the same text instead of re-rendering.


@dataclass(frozen=True)
class Job:
    """One claimed notice: everything needed to submit it, already in the database."""

    notice_id: int
    attempt: int
    to_e164: str
    text: str
    idempotency_key: str


@dataclass
class PassStats:
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    paper: int = 0
    check: int = 0
    recovered: int = 0
    receipts: int = 0

    def add(self, other: PassStats) -> None:
        for k, v in vars(other).items():
            setattr(self, k, getattr(self, k) + v)


def backoff_s(config: NoticesConfig, attempt: int) -> float:
    r = config.retry
    return float(min(r.backoff_base_s * 2 ** max(0, attempt - 1), r.backoff_max_s))


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class NoticeSender:
    """Claims due notices, submits them through ``provider`` and applies receipts."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        config: NoticesConfig,
        provider: SmsProvider,
        default_region: str = "GB",
        worker_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.config = config
        self.provider = provider
        self.default_region = default_region
        self.worker_id = worker_id or default_worker_id()
        self.clock = clock

    # -- claiming -----------------------------------------------------------------
    def _is_pg(self, session: Session) -> bool:
        return session.get_bind().dialect.name == "postgresql"

    def claim(self, exclude: frozenset[int] = frozenset()) -> tuple[list[Job], int]:
        """Mark up to ``batch_size`` due notices 'submitting' and record what will be sent;
        ``exclude``: notices already tried in this pass (one attempt per pass).
        Returns the jobs and how many claimed notices went straight to paper."""
        now = self.clock()
        with self.sessions.begin() as s:
            lock_for_write(s)
            due = (
                sa.select(Notice.id)
                .outerjoin(NoticeDelivery, NoticeDelivery.notice_id == Notice.id)
                .where(
                    Notice.status == NoticeStatus.pending,
                    Notice.id.not_in(exclude) if exclude else sa.true(),
                    sa.or_(
                        NoticeDelivery.next_attempt_at.is_(None),
                        NoticeDelivery.next_attempt_at <= now,
                    ),
                )
                .order_by(Notice.id)
                .limit(self.config.batch_size)
            )
            if self._is_pg(s):
                due = due.with_for_update(skip_locked=True, of=Notice)
            rows = (
                s.execute(
                    sa.update(Notice)
                    .where(
                        Notice.id.in_(due.scalar_subquery()), Notice.status == NoticeStatus.pending
                    )
                    .values(status=NoticeStatus.submitting, attempts=Notice.attempts + 1)
                    .returning(Notice.id)
                    .execution_options(synchronize_session=False)
                )
                .scalars()
                .all()
            )
            jobs: list[Job] = []
            paper = 0
            for nid in sorted(rows):
                job = self._prepare(s, nid, now)
                if job is not None:
                    jobs.append(job)
                else:
                    paper += 1
        return jobs, paper

    def _prepare(self, s: Session, notice_id: int, now: datetime) -> Job | None:
        """In the claim transaction: destination and text, or a paper notice if impossible."""
        n = s.get(Notice, notice_id, populate_existing=True)
        assert n is not None
        d = s.get(NoticeDelivery, notice_id)
        if d is None:
            d = NoticeDelivery(notice_id=notice_id, provider=self.provider.name, idempotency_key="")
            s.add(d)
        d.claimed_by, d.claimed_at, d.next_attempt_at = self.worker_id, now, None
        if d.idempotency_key and d.text and d.to_e164 and d.provider == self.provider.name:
            # A retry after an unknown outcome on an idempotent provider: same key, same text.
            return Job(notice_id, n.attempts, d.to_e164, d.text, d.idempotency_key)
        person = s.get(Person, n.person_id)
        try:
            if person is None or person.erased_at is not None:
                raise ValueError(f"person {n.person_id}: erased or unknown")
            if not person.phone:
                raise ValueError(f"person {n.person_id}: no phone number on record")
            to = to_e164(person.phone, self.default_region)
            # A row that does not fit its kind (hand-edited, written by an older or buggy
            # version) goes to paper with the kind and field named; the pass goes on.
            params = parse_params(n.kind, n.params)
            if d.text and isinstance(params, FineIssued) and params.access_code_in_text:
                # Rendered before; the access code now exists only in that text.
                text, language = d.text, d.language
            else:
                rendered = render(self.config, params, to)
                text, language = rendered.text, rendered.language
        except (ValueError, TemplateError) as e:  # NoticeParamsError is a ValueError
            n.status, n.last_error = NoticeStatus.paper_required, f"no SMS possible: {e}"
            log.warning("notice %s: %s", notice_id, n.last_error)
            return None
        d.provider = self.provider.name
        d.idempotency_key = f"jw-notice-{notice_id}-{n.attempts}"
        d.to_e164, d.language, d.text = to, language, text
        if isinstance(params, FineIssued) and params.access_code is not None:
            n.params = params.without_access_code().stored()
        return Job(notice_id, n.attempts, to, text, d.idempotency_key)

    def recover_orphans(self) -> tuple[list[Job], int]:
        """Notices left 'submitting' past the lease by a dead worker: resubmit (same key)
        if the provider de-duplicates, else flag 'check_required'. Returns (jobs, flagged)."""
        now = self.clock()
        cutoff = now - timedelta(seconds=self.config.retry.claim_lease_s)
        with self.sessions.begin() as s:
            lock_for_write(s)
            stale = (
                sa.select(NoticeDelivery.notice_id)
                .join(Notice, Notice.id == NoticeDelivery.notice_id)
                .where(Notice.status == NoticeStatus.submitting, NoticeDelivery.claimed_at < cutoff)
                .limit(self.config.batch_size)
            )
            if self._is_pg(s):
                stale = stale.with_for_update(skip_locked=True, of=NoticeDelivery)
            old = {
                r.notice_id: (r.claimed_by, r.claimed_at)
                for r in s.execute(
                    sa.select(
                        NoticeDelivery.notice_id,
                        NoticeDelivery.claimed_by,
                        NoticeDelivery.claimed_at,
                    ).where(NoticeDelivery.notice_id.in_(stale.scalar_subquery()))
                )
            }
            if not old:
                return [], 0
            taken = (
                s.execute(
                    sa.update(NoticeDelivery)
                    .where(
                        NoticeDelivery.notice_id.in_(list(old)), NoticeDelivery.claimed_at < cutoff
                    )
                    .values(claimed_by=self.worker_id, claimed_at=now)
                    .returning(NoticeDelivery.notice_id)
                    .execution_options(synchronize_session=False)
                )
                .scalars()
                .all()
            )
            jobs: list[Job] = []
            flagged = 0
            for nid in sorted(taken):
                n = s.get(Notice, nid, populate_existing=True)
                d = s.get(NoticeDelivery, nid, populate_existing=True)
                assert n is not None and d is not None
                by, at = old[nid]
                if (
                    self.provider.idempotent
                    and d.provider == self.provider.name
                    and d.text
                    and d.to_e164
                ):
                    log.warning(
                        "notice %s: resubmitting with key %s after %s died",
                        nid,
                        d.idempotency_key,
                        by,
                    )
                    jobs.append(Job(nid, n.attempts, d.to_e164, d.text, d.idempotency_key))
                else:
                    n.status = NoticeStatus.check_required
                    n.last_error = (
                        f"submission by {by} at {at:%Y-%m-%d %H:%M:%S}Z was interrupted; "
                        f"{d.provider} cannot de-duplicate, so it was not resubmitted. Check the "
                        f"provider's log for {d.to_e164}, then resolve as sent or resend."
                    )
                    flagged += 1
                    log.error("notice %s: %s", nid, n.last_error)
        return jobs, flagged

    # -- submitting ---------------------------------------------------------------
    def _record(
        self, s: Session, notice_id: int, sub: Submission | None, ids: list[str], now: datetime
    ) -> None:
        known = set(
            s.execute(
                sa.select(NoticePart.message_id).where(
                    NoticePart.notice_id == notice_id, NoticePart.provider == self.provider.name
                )
            ).scalars()
        )
        start = len(known)
        for i, mid in enumerate(ids, start=1):
            if mid not in known:
                s.add(
                    NoticePart(
                        notice_id=notice_id,
                        part_no=start + i if sub is None else i,
                        provider=self.provider.name,
                        message_id=mid,
                        submitted_at=now,
                    )
                )

    def submit(self, job: Job) -> str:
        """Submit one claimed notice and record the outcome; returns the new status."""
        try:
            sub = self.provider.submit(job.to_e164, job.text, job.idempotency_key)
        except NotSent as e:
            return self._not_sent(job, str(e), e.permanent)
        except MaybeSent as e:
            return self._maybe_sent(job, str(e), e.message_ids)
        except Exception as e:
            log.exception("notice %s: provider raised", job.notice_id)
            return self._maybe_sent(job, f"{type(e).__name__}: {e}", [])
        # Logged first: if the database is unreachable now, the notice stays 'submitting'
        # and the operator checking it later finds the provider's ids here.
        log.info(
            "notice %s: accepted by %s as %s", job.notice_id, self.provider.name, sub.message_ids
        )
        now = self.clock()
        with self.sessions.begin() as s:
            lock_for_write(s)
            n = s.get(Notice, job.notice_id, with_for_update=True, populate_existing=True)
            d = s.get(NoticeDelivery, job.notice_id, populate_existing=True)
            assert n is not None and d is not None
            self._record(s, job.notice_id, sub, sub.message_ids, now)
            d.submitted_at, d.part_count = now, len(sub.message_ids)
            if n.status in (
                NoticeStatus.submitting,
                NoticeStatus.check_required,
                NoticeStatus.pending,
            ):
                n.status, n.sent_at, n.last_error = NoticeStatus.sent, now, None
            return n.status

    def _not_sent(self, job: Job, why: str, permanent: bool) -> str:
        now = self.clock()
        with self.sessions.begin() as s:
            lock_for_write(s)
            n = s.get(Notice, job.notice_id, with_for_update=True, populate_existing=True)
            d = s.get(NoticeDelivery, job.notice_id, populate_existing=True)
            assert n is not None and d is not None
            if n.status != NoticeStatus.submitting:
                return n.status
            last = job.attempt >= self.config.retry.max_attempts
            d.idempotency_key = ""  # definitely not sent: the next attempt gets a new key
            if permanent or last:
                n.status = NoticeStatus.paper_required
                n.last_error = (
                    f"attempt {job.attempt}: {why}; "
                    + ("refused for good" if permanent else "last attempt")
                    + ": send the notice on paper"
                )
            else:
                n.status = NoticeStatus.pending
                n.last_error = f"attempt {job.attempt}: {why}"
                d.next_attempt_at = now + timedelta(seconds=backoff_s(self.config, job.attempt))
            log.warning("notice %s: not sent (%s) → %s", job.notice_id, why, n.status)
            return n.status

    def _maybe_sent(self, job: Job, why: str, ids: list[str]) -> str:
        now = self.clock()
        with self.sessions.begin() as s:
            lock_for_write(s)
            n = s.get(Notice, job.notice_id, with_for_update=True, populate_existing=True)
            d = s.get(NoticeDelivery, job.notice_id, populate_existing=True)
            assert n is not None and d is not None
            self._record(s, job.notice_id, None, ids, now)
            if n.status != NoticeStatus.submitting:
                return n.status
            if self.provider.idempotent and job.attempt < self.config.retry.max_attempts:
                n.status = NoticeStatus.pending  # keeps key and text: the provider de-duplicates
                n.last_error = (
                    f"attempt {job.attempt}: outcome unknown ({why}); retrying with the same key"
                )
                d.next_attempt_at = now + timedelta(seconds=backoff_s(self.config, job.attempt))
            else:
                n.status = NoticeStatus.check_required
                n.last_error = (
                    f"attempt {job.attempt}: outcome unknown ({why}); {len(ids)} part(s) known "
                    f"accepted. Not resubmitted, to avoid a second SMS: check the provider's log."
                )
            log.error("notice %s: %s", job.notice_id, n.last_error)
            return n.status

    # -- receipts and the loop ----------------------------------------------------
    def apply_receipts(self, timeout_s: float) -> int:
        receipts = self.provider.poll_receipts(timeout_s)
        if not receipts:
            return 0
        with self.sessions.begin() as s:
            lock_for_write(s)
            for r in receipts:
                apply_receipt(s, self.provider.name, r, self.clock())
        return len(receipts)

    def run_once(self, receipt_wait_s: float = 0.0) -> PassStats:
        """Recover orphans, send everything due now, then apply receipts that arrive
        within ``receipt_wait_s``."""
        stats = PassStats()
        jobs, stats.check = self.recover_orphans()
        stats.recovered = len(jobs)
        tried: set[int] = set()
        while True:
            for job in jobs:
                tried.add(job.notice_id)
                status = self.submit(job)
                stats.sent += status in (NoticeStatus.sent, NoticeStatus.delivered)
                stats.retry += status == NoticeStatus.pending
                stats.paper += status == NoticeStatus.paper_required
                stats.check += status == NoticeStatus.check_required
                stats.receipts += self.apply_receipts(0.0)
            jobs, paper = self.claim(frozenset(tried))
            if not jobs and not paper:
                break
            stats.claimed += len(jobs) + paper
            stats.paper += paper
        stats.receipts += self.apply_receipts(receipt_wait_s)
        return stats

    def run(self, stop: threading.Event | None = None) -> None:
        """Until ``stop`` is set: send what is due, wait for receipts between passes."""
        stop = stop or threading.Event()
        log.info("notice sender %s running (provider %s)", self.worker_id, self.provider.name)
        while not stop.is_set():
            try:
                self.run_once(receipt_wait_s=self.config.poll_interval_s)
            except sa.exc.OperationalError as e:  # DB briefly away: keep the worker up
                log.error("notice sender: database error: %s", e)
                stop.wait(self.config.poll_interval_s)

    def close(self) -> None:
        self.provider.close()
