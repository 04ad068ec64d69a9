"""Builders for central tests: signed events from a registered device, a ready Context."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from central.config import CentralConfig, HttpSettings, RateRule, ReviewSettings
from central.context import Context
from central.workflow.common import SYSTEM, Actor
from central.workflow.devices import register_device
from jaywatch import wire

REPO = Path(__file__).resolve().parents[2]
OPERATOR = Actor("olive", "operator", None)
SUPERVISOR = Actor("sam", "supervisor", None)
ADMIN = Actor("ada", "admin", None)
AUDITOR = Actor("aud", "auditor", None)


# One operator, no undo window: what the tests that are not about four-eyes assume (a
# confirmation issues its fine at once); tests/central/workflow/test_four_eyes.py sets its own.
ONE_REVIEWER = ReviewSettings(second_reviewer="never", undo_window_s=0)


def make_context(db_url: str, tmp_path: Path, **overrides: object) -> Context:
    overrides.setdefault("review", ONE_REVIEWER)
    cfg = CentralConfig(
        database_url=db_url,
        evidence_dir=str(tmp_path / "evidence"),
        fines_file=str(REPO / "config" / "fines.yaml"),
        **overrides,  # type: ignore[arg-type]
    )
    return Context.from_config(cfg)


def roomy_limits(per_minute: int = 100_000) -> HttpSettings:
    """Front-door throttles far above what a test that is not about them does (many
    logins as one account from one test client); the throttle tests set their own."""
    r = RateRule(limit=per_minute, period_s=60)
    return HttpSettings(
        login_per_account=r, login_per_address=r, public_per_address=r, public_per_reference=r
    )


def jpeg(seed: int = 0, size: int = 32) -> bytes:
    """A real (tiny) JPEG whose pixels depend on ``seed``."""
    img = Image.new("RGB", (size, size), ((seed * 37) % 256, (seed * 91) % 256, 120))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def add_device(ctx: Context, device_id: str = "gw-1") -> Ed25519PrivateKey:
    key = wire.generate_device_key()
    with ctx.sessions.begin() as s:
        register_device(
            s, SYSTEM, device_id, wire.public_key_bytes(key), "Main St", {"cam-1": "Main St / 5th"}
        )
    return key


def violation(
    key: Ed25519PrivateKey,
    device_id: str = "gw-1",
    person_id: str | None = None,
    occurred: datetime | None = None,
    images: int = 1,
    sign: bool = True,
    score: float = 0.91,
    threshold: float | None = None,
    alternatives: list[tuple[str, float]] | None = None,
) -> wire.ViolationEvent:
    ev = wire.ViolationEvent(
        device_id=device_id,
        camera_id="cam-1",
        occurred=occurred or datetime.now(UTC) - timedelta(minutes=1),
        t=12.5,
        frame=300,
        track_id=7,
        bbox=(4.0, 2.0, 20.0, 30.0),  # inside the 32x32 evidence image
        signal=wire.SignalEvidence(phase="red", red_for_s=4.2),
        zone=[(0.0, 0.0), (100.0, 0.0), (100.0, 50.0)],
        grace_s=1.0,
        evidence=[
            wire.EvidenceImage(
                role="entry", frame=300 + i, t=12.5, jpeg_b64=base64.b64encode(jpeg(i)).decode()
            )
            for i in range(images)
        ],
        match=wire.MatchResult(
            person_id=person_id,
            score=score,
            backend="test",
            threshold=threshold,
            alternatives=[
                wire.MatchAlternative(person_id=p, score=sc) for p, sc in alternatives or []
            ],
        )
        if person_id
        else None,
    )
    return wire.sign_message(ev, key) if sign else ev
