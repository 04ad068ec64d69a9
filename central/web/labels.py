"""Human labels for the codes the database stores (statuses, reasons) and the event
message carries (evidence roles, signal phases, offence codes, matchers): pages show
these, never a raw code such as ``wrong_person``. An unknown code is shown with its
words spaced out rather than hidden."""

from __future__ import annotations

STATUS_LABELS = {
    "pending_review": "Waiting for review",
    "second_review": "Awaiting second review",
    "confirming": "Confirmed, undo window running",
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
ROLE_LABELS = {  # evidence stills (jaywatch/wire.py EvidenceImage.role)
    "before": "Before entry",
    "entry": "Entering the carriageway",
    "after": "After entry",
    "face": "Captured face",
    "clip": "Clip",
}
PHASE_LABELS = {
    "red": "red",
    "green": "green",
    "flashing_red": "flashing red",
    "flashing_green": "flashing green",
    "dark": "dark (off)",
    "unknown": "unknown",
}
SOURCE_LABELS = {
    "roi": "the camera image of the signal head",
    "controller": "the signal controller",
}
OFFENCE_LABELS = {"PED_RED": "Crossing against a red pedestrian signal"}
BACKEND_LABELS = {"sface": "SFace", "dlib": "dlib (face_recognition)"}
KINDS = {
    "status": STATUS_LABELS,
    "reason": REASON_LABELS,
    "sort": SORT_LABELS,
    "role": ROLE_LABELS,
    "phase": PHASE_LABELS,
    "source": SOURCE_LABELS,
    "offence": OFFENCE_LABELS,
    "backend": BACKEND_LABELS,
}


def label(kind: str, code: object) -> str:
    """``label("reason", "wrong_person")`` → "Wrong person (the face match is wrong)".
    ``code`` may be a str or a StrEnum member."""
    if code is None or code == "":
        return "—"
    text = str(getattr(code, "value", code))
    return KINDS.get(kind, {}).get(text) or text.replace("_", " ").capitalize()
