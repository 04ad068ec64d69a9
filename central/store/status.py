"""Every status a stored record can be in, one ``StrEnum`` per table.

They are ``str`` subclasses, so they compare equal to the stored text and bind as plain
strings on SQLite and PostgreSQL; member names equal their values on purpose, so nothing
that serialises an enum by name (psycopg's Enum adapter, a log line) writes another text.

>>> EventStatus.pending_review == "pending_review"
True
>>> FineStatus("paid") is FineStatus.paid
True
"""

from __future__ import annotations

from enum import StrEnum


class EventStatus(StrEnum):
    """Where a stored violation event is in review."""

    pending_review = "pending_review"  # matched: an operator decides
    # four-eyes (review.second_reviewer): one operator confirmed, a second, different one
    # must before any sanction
    second_review = "second_review"
    # finally confirmed, the undo window (review.undo_window_s) runs: no fine, SMS or
    # display entry yet; serve issues them when it has passed (review.issue_due)
    confirming = "confirming"
    unidentified = "unidentified"  # no match: statistics only, never identified later
    confirmed = "confirmed"  # a fine was issued
    dismissed = "dismissed"
    # stored, but its time is outside the window around receipt (ingest.occurred_*):
    # an admin looks at it (GET /api/quarantine); never reviewed, fined or displayed.
    quarantined = "quarantined"


class ConfirmationStage(StrEnum):
    """A review_confirmations row: the first of two reviewers, or the final confirmation."""

    first = "first"
    final = "final"


class FineStatus(StrEnum):
    issued = "issued"
    paid = "paid"
    void = "void"


class AppealStatus(StrEnum):
    pending = "pending"  # submitted, waiting for a supervisor
    under_review = "under_review"  # a supervisor took it (central/workflow/appeals.py)
    upheld = "upheld"
    denied = "denied"


# An appeal in these states is open: the fine's due date is paused, its evidence kept.
APPEAL_OPEN = (AppealStatus.pending, AppealStatus.under_review)


class NoticeStatus(StrEnum):
    """An SMS notice's way out (the workflow writes ``pending``; the sender the rest)."""

    pending = "pending"
    submitting = "submitting"  # claimed; a submission may be in flight
    sent = "sent"  # every part accepted by the provider, ids recorded
    delivered = "delivered"  # every part's delivery receipt says delivered
    check_required = "check_required"  # interrupted mid-submission; a person decides
    paper_required = "paper_required"  # SMS impossible or failed for good: send on paper


class PaymentOutcome(StrEnum):
    """What one payment did to its fine (central/workflow/payments.py)."""

    paid = "paid"  # the fine is paid in full now
    partial = "partial"  # credited; a balance is still due
    overpaid = "overpaid"  # paid in full; the excess is a refund due
    not_due = "not_due"  # the fine was paid or void already: a refund due
    currency = "currency"  # paid in another currency: a refund due, nothing credited


class AdjustmentKind(StrEnum):
    refund_due = "refund_due"  # money to give back
    balance_due = "balance_due"  # money still owed after a part payment


class AdjustmentStatus(StrEnum):
    open = "open"
    settled = "settled"  # by a supervisor (refunded / waived)
    covered = "covered"  # a later payment paid the balance


class StatementLineStatus(StrEnum):
    matched = "matched"
    unmatched = "unmatched"  # no notice reference found, or not a fine
    ambiguous = "ambiguous"  # several fines' references
    resolved = "resolved"  # a supervisor assigned it to a fine
