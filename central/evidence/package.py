"""The evidence package: one zip a court or the person can check without jaywatch.

    README.txt               what is inside, and how to check it step by step
    evidence.pdf             stills, facts, decision history (who, when), appeal
    signed_message.json      the message exactly as the camera gateway signed and sent it
    device_public_key.pem    the gateway's Ed25519 public key, as registered at central
    images/NN-ROLE.jpg       each image of the signed message, as its own file
    clip.EXT                 the video clip, when the event has one
    verify.py                the standalone verifier (Python + cryptography only)
    manifest.json            sha256 of every file above, and the facts as data

Built only from evidence that verifies (``integrity.verify_event``): altered evidence is
refused (EvidenceAltered), never packaged. Every export is audited by the caller's
``actor``: staff from the console, the API or the CLI, the person from the notice page.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from importlib.resources import files as resource_files
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from central import audit
from central.evidence import pdf
from central.evidence.integrity import (
    CLIP_ROLE,
    EvidenceAltered,
    read_blob,
    verify_event,
)
from central.evidence.standalone_verify import MESSAGE, PUBLIC_KEY, image_name
from central.fines import format_money
from central.store.evidence import EvidenceStore
from central.store.models import (
    Appeal,
    AuditEntry,
    Device,
    DisplayEntry,
    Event,
    Evidence,
    Fine,
)
from central.workflow.common import NotFound

# Audit actions that make up the decision history of an event and its fine.
HISTORY = {
    "event.confirm_first": "confirmed by a first reviewer; awaiting a second",
    "event.confirm_final": "confirmed; undo window started",
    "event.confirm_undo": "confirmation undone",
    "event.confirm": "confirmed; fine issued",
    "event.dismiss": "dismissed",
    "fine.pay": "payment recorded",
    "payment.refund_due": "refund due",
    "payment.settle": "payment record settled by a supervisor",
    "appeal.submit": "appeal filed",
    "appeal.uphold": "appeal upheld; fine void, points restored",
    "appeal.deny": "appeal denied",
    "evidence.altered": "evidence found altered",
    "evidence.intact_again": "evidence verified whole again",
}
CLIP_EXT = {b"\x1aE\xdf\xa3": "webm"}  # EBML magic; anything else is taken as MP4


@dataclass(frozen=True)
class Package:
    filename: str
    data: bytes
    sha256: str


def find(session: Session, reference: str) -> tuple[Event, Fine | None]:
    """A fine reference (JW-…) or an event id → the event and its fine (if any)."""
    fine = session.execute(sa.select(Fine).where(Fine.reference == reference)).scalar()
    if fine is not None:
        return session.get(Event, fine.event_pk), fine  # type: ignore[return-value]
    ev = session.execute(sa.select(Event).where(Event.event_id == reference)).scalar()
    if ev is None:
        raise NotFound(f"{reference}: no fine reference or event id of that name")
    return ev, session.execute(sa.select(Fine).where(Fine.event_pk == ev.id)).scalar()


def fingerprint(public_key: bytes) -> str:
    """sha256 of the raw 32-byte key, hex: short enough to read out over the phone."""
    return hashlib.sha256(public_key).hexdigest()


def _history(session: Session, e: Event, fine: Fine | None) -> list[pdf.HistoryLine]:
    targets = [f"event:{e.event_id}"]
    if fine is not None:
        targets.append(f"fine:{fine.reference}")
        targets += [
            f"appeal:{a}"
            for a in session.execute(
                sa.select(Appeal.id).where(Appeal.fine_id == fine.id)
            ).scalars()
        ]
    rows = session.execute(
        sa.select(AuditEntry)
        .where(AuditEntry.target.in_(targets), AuditEntry.action.in_(list(HISTORY)))
        .order_by(AuditEntry.seq)
    ).scalars()
    out = []
    for r in rows:
        d = r.details or {}
        detail = HISTORY[r.action]
        if r.action == "event.dismiss":
            detail += f" ({d.get('reason', '?')})"
        elif r.action == "event.confirm" and "fine" in d:
            detail += f" {d['fine']}, {d.get('points', 0)} point(s)"
        out.append(pdf.HistoryLine(r.at, r.actor, r.action, detail))
    return out


def _truth(img: dict) -> str:
    """A still's own time and signal phase (schema 2 events), for its caption."""
    t = img.get("truth")
    if not isinstance(t, dict):
        return ""
    out = str(t.get("utc", "?"))
    if t.get("local") and t.get("tz"):
        out += f" · local {t['local']} ({t['tz']})"
    out += f" · signal {t.get('phase', '?')}"
    if t.get("red_for_s") is not None:
        out += f", red for {float(t['red_for_s']):.1f} s"
    return out


def _place(session: Session, e: Event, fine: Fine | None) -> str:
    if fine is not None:
        p = session.execute(
            sa.select(DisplayEntry.place).where(DisplayEntry.fine_id == fine.id)
        ).scalar()
        if p:
            return p
    dev = session.get(Device, e.device_id)
    for cam in (dev.cameras if dev else None) or []:
        if isinstance(cam, dict) and cam.get("camera_id") == e.camera_id and cam.get("place"):
            return str(cam["place"])
    return (dev.place if dev else "") or f"{e.device_id}/{e.camera_id}"


PERSON_AUDIENCE = "the person (notice page)"


def _runner_ups(match: dict[str, Any]) -> str:
    """The signed ``alternatives`` of a match in one line ("" when none were sent)."""
    alts = match.get("alternatives")
    if not isinstance(alts, list) or not alts:
        return ""
    best = match.get("score")
    parts = []
    for a in alts:
        if not isinstance(a, dict):
            continue
        sc = a.get("score")
        gap = f", {best - sc:.3f} below" if isinstance(best, int | float) and isinstance(
            sc, int | float) else ""  # fmt: skip
        parts.append(f"{a.get('person_id')} {sc}{gap}")
    return "; ".join(parts)


def build(
    session: Session, store: EvidenceStore, reference: str, actor: str, audience: str
) -> Package:
    """The package of ``reference`` (fine reference or event id); audited as ``actor``.
    Raises NotFound (unknown, or evidence purged) and EvidenceAltered."""
    e, fine = find(session, reference)
    verdict = verify_event(session, store, e)
    if not verdict.ok:
        raise EvidenceAltered(e.event_id, verdict.problems)
    if e.evidence_altered_at is not None:
        raise EvidenceAltered(e.event_id, list(e.evidence_problems or ["flagged"]))
    if verdict.purged or verdict.message is None:
        raise NotFound(f"{reference}: the evidence is no longer kept (retention)")
    message = verdict.message
    body = json.loads(message)
    dev = session.get(Device, e.device_id)
    raw_key = bytes(dev.public_key)  # type: ignore[union-attr]
    pem = Ed25519PublicKey.from_public_bytes(raw_key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    files: dict[str, bytes] = {MESSAGE: message, PUBLIC_KEY: pem}
    stills = []
    for pos, img in enumerate(body.get("evidence") or []):
        data = base64.b64decode(img["jpeg_b64"])
        sha = hashlib.sha256(data).hexdigest()
        files[image_name(pos, img["role"])] = data
        stills.append(
            pdf.Still(img["role"], img.get("frame"), img.get("t"), data, sha, _truth(img))
        )
    clip_sha = session.execute(
        sa.select(Evidence.sha256).where(Evidence.event_pk == e.id, Evidence.role == CLIP_ROLE)
    ).scalar()
    clip_name = None
    if clip_sha is not None:
        clip = read_blob(store, clip_sha)
        clip_name = f"clip.{CLIP_EXT.get(clip[:4], 'mp4')}"
        files[clip_name] = clip
    signal = body.get("signal") or {}
    match = body.get("match") or {}
    facts = [
        ("Reference", fine.reference if fine else "— (no fine)"),
        ("Event id", e.event_id),
        ("Status", e.status + (f"; fine {fine.status}" if fine else "")),
        ("Offence", e.offence_code),
        ("When", pdf._t(e.occurred)),
        ("Where", str(body.get("place") or "") or _place(session, e, fine)),
        ("Gateway / camera", f"{e.device_id} / {e.camera_id}"),
        (
            "Signal",
            f"{signal.get('phase', '?')} for {float(signal.get('red_for_s', 0)):.1f} s "
            f"(read from {signal.get('source', '?')}); grace {body.get('grace_s', '?')} s",
        ),
        ("Frame / track", f"frame {body.get('frame')} · track {body.get('track_id')}"),
        ("Received by central", pdf._t(e.received)),
    ]
    if match:
        facts.append(("Face match", f"score {match.get('score')} ({match.get('backend', '')})"))
        runner_ups = _runner_ups(match)
        # The signed message (in the package for everyone: it is what verifies) carries the
        # matcher's runner-ups as the gateway sent them; the PDF names them for staff and
        # a court, where how close the match was bears on the identification. The person's
        # own PDF does not list other enrolled persons.
        if runner_ups and audience != PERSON_AUDIENCE:
            facts.append(("Other candidates (matcher)", runner_ups))
    if fine is not None:
        facts += [
            ("Fine", format_money(fine.amount_cents, fine.currency)),
            ("Penalty points", str(fine.points)),
            ("Issued / due", f"{pdf._t(fine.issued)} / {fine.due.date().isoformat()}"),
        ]
        if fine.paid_at:
            facts.append(("Paid", pdf._t(fine.paid_at)))
        if fine.voided_at:
            facts.append(("Void since", pdf._t(fine.voided_at)))
    appeal_rows: list[tuple[str, str]] = []
    if fine is not None:
        from central.workflow.appeals import STATE_LABELS, view_appeals

        filed = session.execute(
            sa.select(Appeal).where(Appeal.fine_id == fine.id).order_by(Appeal.id)
        ).scalars()
        for v in view_appeals(session, list(filed)):
            a = v.appeal
            level = "Second review" if a.level == 2 else "Appeal"
            sent = "; ".join(
                f"{f.filename} ({f.media_type}, sha256 {f.original_sha256})" for f in v.attachments
            )
            appeal_rows += [
                (f"{level}: filed", pdf._t(a.submitted)),
                ("Grounds", a.grounds),
                ("Files", sent or "—"),
                ("Outcome", STATE_LABELS.get(a.status, a.status)),
                ("Decided", pdf._t(a.decided_at)),
                ("Reasons", a.note or "—"),
            ]
    msg_sha = hashlib.sha256(message).hexdigest()
    verification = [
        ("signed_message.json sha256", msg_sha),
        ("Device key (raw, base64)", base64.b64encode(raw_key).decode()),
        ("Device key fingerprint", fingerprint(raw_key)),
        ("Packaged for", audience),
    ]
    files["evidence.pdf"] = pdf.render(
        pdf.PackageContent(
            title=f"Evidence package {fine.reference if fine else e.event_id}",
            facts=facts,
            stills=stills,
            history=_history(session, e, fine),
            appeal=appeal_rows,
            verification=verification,
            clip_name=clip_name,
        )
    )
    verifier = resource_files("central.evidence").joinpath("standalone_verify.py")
    files["verify.py"] = verifier.read_bytes()
    files["README.txt"] = README.format(
        reference=fine.reference if fine else e.event_id,
        fingerprint=fingerprint(raw_key),
        device=e.device_id,
    ).encode()
    files["manifest.json"] = json.dumps(
        {
            "reference": fine.reference if fine else None,
            "event_id": e.event_id,
            "device_id": e.device_id,
            "device_key_fingerprint": fingerprint(raw_key),
            "facts": dict(facts),
            "files": {n: hashlib.sha256(d).hexdigest() for n, d in sorted(files.items())},
        },
        indent=2,
        ensure_ascii=False,
    ).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(files):
            z.writestr(name, files[name])
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    audit.record(
        session,
        actor,
        "evidence.export",
        f"event:{e.event_id}",
        {"reference": fine.reference if fine else None, "audience": audience, "sha256": sha},
    )
    name = (fine.reference if fine else e.event_id) + "-evidence.zip"
    return Package(name, data, sha)


README = """\
Evidence package {reference}
=============================

What is inside
--------------
  evidence.pdf            A readable report: the images, the facts, who decided what
                          and when, and the appeal. It is a rendering; the files below
                          are the evidence.
  signed_message.json     The event exactly as the camera gateway "{device}" sent it,
                          with the images inside, signed with the gateway's key.
  device_public_key.pem   The gateway's public key (Ed25519) as registered at central.
  images/                 Each image of the signed message as a JPEG file.
  clip.mp4 / clip.webm    The video clip, if the event has one.
  verify.py               A short program that checks all of the above.
  manifest.json           The sha256 of every file, and the facts as data.

How to check it, step by step
-----------------------------
1. Install Python 3.9 or newer (python.org) and the "cryptography" library:
       python3 -m pip install cryptography
   Nothing else is needed: verify.py uses only Python and that library. Read it
   first if you like; it is about 150 lines.
2. Check the key. The device key fingerprint (sha256 of the raw key) is
       {fingerprint}
   Ask the operator of the system (or the court's expert) to confirm that this is
   the key registered for gateway "{device}". Without that step you only know
   that the files agree with each other, not who signed them.
3. Run, in the folder where this package is:
       python3 verify.py {reference}-evidence.zip
   (or, after unzipping, python3 verify.py FOLDER).
4. Read the result. Every line starts with OK or FAIL:
     - "signed_message.json: signature valid": the message is exactly what the
       gateway signed. One changed byte anywhere in it makes this FAIL.
     - "images/...: matches the signed image": that JPEG file is byte for byte the
       image inside the signed message.
     - "clip...: matches the signed sha256": the clip is the one the gateway signed.
   The last line is ALL CHECKS PASSED (exit status 0) or VERIFICATION FAILED
   (exit status 1, the failing files named above it).

What the signature covers
-------------------------
The gateway signs the message's canonical JSON without its "signature" field: keys
sorted, no spaces, UTF-8 (see canonical() in verify.py). The images travel inside
the message (base64 JPEG), so they are covered too; a clip is covered through its
sha256 in the message. The PDF is not signed: compare its images with the files
in images/ if in doubt (each caption prints the image's sha256).
"""
