"""A small central world for the web tests: DB, device, enrolled person, staff users,
and events ingested through central's real classify + store path from signed wire events.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from PIL import Image

from central.context import Context
from central.ingest.classify import AcceptedEvent, Incoming, KeyCache, classify
from central.ingest.store import load_device_keys, store_batch
from central.store.models import Notice
from central.web import mount_web
from central.web.state import WebState
from central.workflow.common import SYSTEM
from central.workflow.devices import register_device
from central.workflow.persons import enrol
from central.workflow.users import create_user
from jaywatch import wire
from tests.central.helpers import ADMIN, make_context, roomy_limits

REPO = Path(__file__).resolve().parents[3]
PHOTOS = REPO / "sample_media" / "photos"
DEVICE = "gw-main"
PLACE = "Main St / 5th Ave"
PERSON_NAME = "Zelda Quixote-Marlowe"
PERSON_PHONE = "+447911123456"
PASSWORDS = {
    "olive": ("operator", "olive-pass-123"),
    "sam": ("supervisor", "sam-pass-456"),
    "aud": ("auditor", "aud-pass-789"),
    "adam": ("admin", "adam-pass-012"),
    "otto": ("operator", "otto-pass-321"),  # a second operator (case claims)
}


def jpeg_of(path: Path, box: tuple[int, int, int, int] | None = None, quality: int = 90) -> bytes:
    img = Image.open(path).convert("RGB")
    if box is not None:
        img = img.crop(box)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


# Entry frame: a real portrait (the violator fills the person box); the face crop is
# cut from it, as the edge does for a matched violator.
ENTRY_PHOTO = PHOTOS / "obama.jpg"
PERSON_BOX = (25.0, 10.0, 355.0, 480.0)  # sample_media/photos/people.json
FACE_BOX = (110, 40, 290, 260)
SCENE_PHOTO = PHOTOS / "vtest_0400.jpg"


@dataclass
class World:
    ctx: Context
    app: FastAPI
    web: WebState
    key: Ed25519PrivateKey
    person_id: str
    events: list[str] = field(default_factory=list)

    def ingest(
        self,
        score: float = 0.91,
        occurred: datetime | None = None,
        matched: bool = True,
        camera_id: str = "cam-1",
        site_tz: str | None = None,
        alternatives: list[tuple[str, float]] | None = None,
        person_id: str | None = None,
    ) -> str:
        """Sign a violation like a gateway does and store it through central's ingest
        (``site_tz``: the site's time zone, wire schema 2)."""
        entry = jpeg_of(ENTRY_PHOTO)
        before = jpeg_of(SCENE_PHOTO)
        face = jpeg_of(ENTRY_PHOTO, FACE_BOX)
        ev = wire.ViolationEvent(
            device_id=DEVICE,
            camera_id=camera_id,
            occurred=occurred or datetime.now(UTC) - timedelta(minutes=5),
            t=42.0,
            frame=1260,
            track_id=3,
            bbox=PERSON_BOX,
            signal=wire.SignalEvidence(phase="red", red_for_s=6.4, roi=(400, 20, 40, 90)),
            zone=[(0.0, 300.0), (480.0, 260.0), (480.0, 480.0), (0.0, 480.0)],
            grace_s=1.0,
            site_tz=site_tz,
            evidence=[
                wire.EvidenceImage(role=r, frame=1260 + i, t=42.0 + i / 10, jpeg_b64=b64(d))
                for i, (r, d) in enumerate((("before", before), ("entry", entry), ("face", face)))
            ],
            match=wire.MatchResult(
                person_id=person_id or self.person_id,
                score=score,
                backend="sface",
                threshold=0.363,
                alternatives=[
                    wire.MatchAlternative(person_id=p, score=sc) for p, sc in alternatives or []
                ],
            )
            if matched
            else None,
        )
        return self.ingest_event(ev)

    def ingest_event(self, ev: wire.ViolationEvent) -> str:
        """Sign ``ev`` as this world's gateway and store it through central's ingest."""
        signed = wire.sign_message(ev, self.key)
        msg = Incoming(wire.violation_topic(DEVICE), signed.model_dump_json().encode())
        c = classify(msg, KeyCache(self._keys), self.ctx.config.ingest.max_payload_bytes)
        assert isinstance(c, AcceptedEvent), c
        with self.ctx.sessions.begin() as s:
            (out,) = store_batch(s, [c], self.ctx.evidence, 4096)
        assert out.status == "stored", out
        self.events.append(ev.event_id)
        return ev.event_id

    def heartbeat(self, status: wire.DeviceStatus) -> None:
        """Store a gateway heartbeat through central's ingest (as the consumer does)."""
        msg = Incoming(wire.status_topic(status.device_id), status.model_dump_json().encode())
        c = classify(msg, KeyCache(self._keys), self.ctx.config.ingest.max_payload_bytes)
        with self.ctx.sessions.begin() as s:
            (out,) = store_batch(s, [c], self.ctx.evidence, 4096)
        assert out.status == "status", out

    def _keys(self) -> dict[str, bytes]:
        with self.ctx.sessions() as s:
            return load_device_keys(s)

    def access_code(self, reference: str) -> str:
        """The code as the SMS carries it (from central's notice outbox)."""
        with self.ctx.sessions() as s:
            for n in s.execute(sa.select(Notice).where(Notice.kind == "fine_issued")).scalars():
                if n.params.get("reference") == reference:
                    return str(n.params["access_code"])
        raise KeyError(reference)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def build_world(db_url: str, tmp_path: Path, poll_s: float = 0.3, rate: int = 1000) -> World:
    ctx = make_context(db_url, tmp_path, http=roomy_limits(rate))
    # plain http on loopback in tests (a loaded config is read-only: a changed copy)
    api = ctx.config.api.model_copy(update={"secure_cookies": False})
    ctx.config = ctx.config.model_copy(update={"api": api})
    key = wire.generate_device_key()
    with ctx.sessions.begin() as s:
        register_device(
            s, SYSTEM, DEVICE, wire.public_key_bytes(key), PLACE, {"cam-1": PLACE, "cam-2": PLACE}
        )
        register_device(s, SYSTEM, "gw-other", wire.public_key_bytes(wire.generate_device_key()))
        p = enrol(s, ADMIN, ctx.rules, PERSON_PHONE, "road traffic act s.12", name=PERSON_NAME)
        for name, (role, pw) in PASSWORDS.items():
            create_user(s, SYSTEM, name, pw, role)
        person_id = p.id
    app = FastAPI()
    web = mount_web(app, ctx, poll_s=poll_s)
    return World(ctx=ctx, app=app, web=web, key=key, person_id=person_id)
