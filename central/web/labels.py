"""Human labels for the codes the database stores (statuses, reasons): pages show these,
never a raw code such as ``wrong_person``. An unknown code is shown with its words
spaced out rather than hidden."""

from __future__ import annotations

STATUS_LABELS = {
    "pending_review": "Waiting for review",
    "unidentified": "Unidentified",
    "confirmed": "Confirmed (fined)",
    "dismissed": "Dismissed",
    "quarantined": "Quarantined (implausible time)",
    "decided": "Decided (confirmed or dismissed)",
}
REASON_LABELS = {
    "not_a_violation": "Not a violation (signal green, on the pavement…)",
    "wrong_person": "Wrong person (the face match is wrong)",
    "poor_evidence": "Evidence does not show the crossing clearly",
    "signal_fault": "Signal reading unreliable",
    "exempt": "Exempt (emergency, assisting someone, authorised worker)",
    "other": "Other",
    "occurred_ahead": "Time ahead of its receipt",
    "occurred_behind": "Time long before its receipt",
}
SORT_LABELS = {
    "oldest": "Oldest first",
    "newest": "Newest first",
    "received": "Most recently received",
    "score_high": "Highest match score",
    "score_low": "Lowest match score",
    "decided": "Most recently decided",
}
KINDS = {"status": STATUS_LABELS, "reason": REASON_LABELS, "sort": SORT_LABELS}


def label(kind: str, code: str | None) -> str:
    """``label("reason", "wrong_person")`` → "Wrong person (the face match is wrong)"."""
    if not code:
        return "—"
    return KINDS.get(kind, {}).get(code) or code.replace("_", " ").capitalize()
