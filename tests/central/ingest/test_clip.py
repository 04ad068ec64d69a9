"""A violation's clip at ingest: checked against its signed sha256 and size, stored like
the stills, kept out of the stored payload (its hash stays), served with its media type."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from central.context import Context
from central.ingest.classify import AcceptedEvent, Incoming, KeyCache, Rejected, classify
from central.ingest.store import store_batch
from central.store.models import Event, Evidence
from jaywatch import wire
from tests.central.helpers import add_device, make_context, violation

WEBM = b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 8  # a WebM header then opaque bytes


@pytest.fixture
def ctx(db_url: str, tmp_path: Path) -> Iterator[Context]:
    c = make_context(db_url, tmp_path)
    yield c
    c.close()


def _clip(data: bytes, **over: Any) -> wire.EvidenceClip:
    fields: dict[str, Any] = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "webm_b64": base64.b64encode(data).decode(),
        "fps": 10,
        "frames": 41,
        "frame_first": 280,
        "frame_last": 320,
        "t_first": 10.5,
        "t_last": 14.5,
        "utc_first": wire.utcnow(),
        "width": 32,
        "height": 32,
        **over,
    }
    return wire.EvidenceClip(**fields)


def _incoming(key: Any, clip: wire.EvidenceClip) -> Incoming:
    ev = violation(key, sign=False).model_copy(update={"clip": clip})
    ev = wire.sign_message(ev, key)
    return Incoming(wire.violation_topic("gw-1"), ev.model_dump_json().encode())


def test_clip_is_stored_as_evidence_and_its_bytes_leave_the_payload(ctx: Context) -> None:
    key = add_device(ctx)
    c = classify(_incoming(key, _clip(WEBM)), KeyCache(lambda: {"gw-1": _pub(key)}), 10**7)
    assert isinstance(c, AcceptedEvent) and c.clip == WEBM
    with ctx.sessions.begin() as s:
        (out,) = store_batch(s, [c], ctx.evidence, 1000)
    assert out.status == "stored"
    with ctx.sessions() as s:
        ev = s.execute(sa.select(Event)).scalar_one()
        rows = s.execute(
            sa.select(Evidence.role, Evidence.sha256, Evidence.size).order_by(Evidence.position)
        ).all()
    sha = hashlib.sha256(WEBM).hexdigest()
    assert rows[-1] == ("clip", sha, len(WEBM))
    assert ev.payload["clip"]["webm_b64"] is None and ev.payload["clip"]["sha256"] == sha
    assert ctx.evidence.get(sha) == WEBM


@pytest.mark.parametrize(
    ("clip_over", "reason"),
    [
        ({"sha256": "0" * 64}, "clip.sha256: does not match"),
        ({"size": 7}, "clip.size"),
        ({"webm_b64": None}, "clip.webm_b64: missing"),
        ({"webm_b64": base64.b64encode(b"\xff\xd8\xff not webm").decode()}, "not a WebM"),
    ],
)
def test_a_clip_that_does_not_match_its_signed_facts_is_rejected(
    ctx: Context, clip_over: dict[str, Any], reason: str
) -> None:
    key = add_device(ctx)
    bad = _clip(WEBM, **clip_over)
    c = classify(_incoming(key, bad), KeyCache(lambda: {"gw-1": _pub(key)}), 10**7)
    assert isinstance(c, Rejected) and reason in c.reason


def _pub(key: Any) -> bytes:
    return wire.public_key_bytes(key)
