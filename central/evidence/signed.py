"""The signed message central keeps for each event, byte for byte.

A device signs the canonical JSON of its message (``jaywatch.wire.canonical_bytes``).
Central keeps the message *as it arrived* (images inline), so a court, the person or
central itself can re-check the signature years later with nothing but the device's
public key. The standalone verifier's canonicalisation (``standalone_verify.canonical``)
must give the signed bytes from the kept message alone, without jaywatch's schema;
that holds for what jaywatch edges send (every field, defaults included). A sender that
leaves out defaulted fields signs bytes its message does not spell out, so for such a
message the normalised form (the canonical body plus the signature) is kept instead:
the same signed content, checkable without the schema.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from central.evidence.standalone_verify import canonical
from central.store.evidence import EvidenceStore
from jaywatch import wire


def message_to_keep(raw: bytes, event: wire.ViolationEvent) -> bytes:
    """``raw`` when it canonicalises to exactly what was verified, else the normal form."""
    signed = wire.canonical_bytes(event)
    try:
        as_sent = json.loads(raw)
        if isinstance(as_sent, dict) and canonical(as_sent) == signed:
            return raw
    except (ValueError, UnicodeDecodeError, RecursionError):
        pass
    body = json.loads(signed)
    body["signature"] = event.signature
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def rebuild_legacy(payload: dict[str, Any], store: EvidenceStore) -> bytes:
    """The signed message of an event stored before messages were kept: its payload (the
    message with each image replaced by its sha256, the clip's bytes left out) with the
    images and the clip put back from the store. Raises KeyError when a blob is gone.
    The result still has to verify against the device key before anyone may trust it."""
    body = json.loads(json.dumps(payload))
    for img in body.get("evidence") or []:
        sha = img.pop("sha256", None)
        if sha is not None:
            img["jpeg_b64"] = base64.b64encode(store.get(sha)).decode()
    clip = body.get("clip")
    if isinstance(clip, dict) and clip.get("webm_b64") is None and clip.get("sha256"):
        clip["webm_b64"] = base64.b64encode(store.get(clip["sha256"])).decode()
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
