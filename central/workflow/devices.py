"""Device registry: public keys for signature checks, MQTT credentials, cameras, health."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central import audit
from central.store.models import CameraSnapshot, Device
from central.workflow.common import Actor, Conflict, require_role
from jaywatch import wire

_DEVICE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def parse_public_key(text: str) -> bytes:
    """A raw 32-byte Ed25519 public key given as base64 or hex."""
    t = text.strip()
    for decode in (bytes.fromhex, lambda s: base64.b64decode(s, validate=True)):
        try:
            key = decode(t)
        except (ValueError, binascii.Error):
            continue
        if len(key) == 32:
            return key
    raise ValueError("public key: expected 32 raw Ed25519 bytes as base64 or hex")


@dataclass(frozen=True)
class DeviceCredentials:
    device_id: str
    mqtt_username: str
    mqtt_password: str

    def acl(self) -> str:
        """Mosquitto ACL lines pinning the device to its own topics: exactly what the
        ``pattern`` rules of the shipped config/mosquitto/jaywatch.acl grant it (they
        match because the username is the device id), for a broker without those rules."""
        d = self.device_id
        return "\n".join(
            [
                f"user {self.mqtt_username}",
                f"topic write {wire.violation_topic(d)}",
                f"topic write {wire.status_topic(d)}",
                f"topic write {wire.snapshot_topic(d)}",
                f"topic read {wire.ack_topic(d)}",
                f"topic read {wire.GALLERY_TOPIC}",
                f"topic read {wire.display_topic('#')}",
            ]
        )


def broker_commands(creds: DeviceCredentials, acl_file: str) -> list[str]:
    """``mosquitto_ctrl dynsec`` lines that create the device's broker login (client id
    bound to its username) and its own role from the ACL file's pattern rules."""
    from jaywatch.broker_acl import device_commands, load_acl, shell_lines

    acl = load_acl(acl_file)
    return shell_lines(device_commands(acl, creds.mqtt_username, creds.mqtt_password))


def register_device(
    session: Session,
    actor: Actor,
    device_id: str,
    public_key: bytes,
    place: str = "",
    cameras: dict[str, str] | None = None,
) -> DeviceCredentials:
    """Register a gateway; the password is returned once and never stored here (it goes
    into the broker's password file)."""
    require_role(actor, "admin", "system")
    if not _DEVICE_ID.match(device_id):
        raise ValueError(f"device id {device_id!r}: expected 1-64 of [A-Za-z0-9_.-]")
    if len(public_key) != 32:
        raise ValueError("public key: expected 32 bytes (raw Ed25519)")
    if session.get(Device, device_id) is not None:
        raise Conflict(f"device {device_id}: already registered")
    # username == device id: the shipped ACL's %u patterns and the gateway's default
    # (edge BrokerConfig.username) both rely on it.
    creds = DeviceCredentials(device_id, device_id, secrets.token_urlsafe(24))
    session.add(
        Device(
            id=device_id,
            public_key=public_key,
            mqtt_username=creds.mqtt_username,
            place=place,
            cameras=[{"camera_id": c, "place": p} for c, p in (cameras or {}).items()],
        )
    )
    audit.record(session, actor.label, "device.register", f"device:{device_id}", {"place": place})
    return creds


# Who may see the devices (the API's list and the console's page).
VIEW_ROLES = ("operator", "supervisor", "admin")


def list_devices(session: Session) -> list[Device]:
    return list(session.execute(sa.select(Device).order_by(Device.id)).scalars())


# --- camera health, as the devices page and the metrics show it ----------------------------

CHECK_TITLES = {
    "frozen": "frozen picture",
    "dark": "dark",
    "covered": "lens covered",
    "monochrome": "no colour (IR)",
    "moved": "view moved",
    "signal_unknown": "signal unknown",
    "detect_stream": "detect stream",
}


@dataclass(frozen=True)
class CameraView:
    """One camera of a device's latest heartbeat, parsed from the stored status."""

    camera_id: str
    up: bool
    fps: float
    error: str
    target_fps: float | None
    signal: wire.CameraSignalHealth | None
    checks: list[wire.CameraCheck]

    @property
    def alert(self) -> bool:
        return any(c.alert for c in self.checks)


def camera_views(status: dict | None) -> list[CameraView]:
    """The cameras of a stored ``DeviceStatus`` (validated at ingest; a row written by an
    older version that no longer parses shows no cameras rather than failing the page)."""
    out = []
    for raw in (status or {}).get("cameras", []) if isinstance(status, dict) else []:
        try:
            c = wire.CameraHealth.model_validate(raw)
        except ValueError:
            continue
        out.append(
            CameraView(c.camera_id, c.up, c.fps, c.error, c.target_fps, c.signal, list(c.checks))
        )
    return out


def alerts_of(status: dict | None) -> set[tuple[str, str]]:
    """(camera id, check) of every alerting check in a stored status."""
    return {(v.camera_id, c.check) for v in camera_views(status) for c in v.checks if c.alert}


# --- health history (the devices page's sparklines) ----------------------------------------

HISTORY_STEP_S = 300  # one sample per 5 minutes at most
HISTORY_SAMPLES = 96  # 8 hours


def history_after(previous: dict | None, status: wire.DeviceStatus, at: datetime) -> list[dict]:
    """The stored heartbeat's ``history`` with this one added: (time, online, fps per
    camera, None for a camera that is down), at most one sample per ``HISTORY_STEP_S``,
    the newest ``HISTORY_SAMPLES`` kept. Kept inside the status JSON: no table to grow."""
    old = (previous or {}).get("history") if isinstance(previous, dict) else None
    samples = [h for h in old if isinstance(h, dict)] if isinstance(old, list) else []
    sample = {
        "at": at.isoformat(timespec="seconds"),
        "online": status.online,
        "fps": {c.camera_id: (c.fps if c.up else None) for c in status.cameras},
    }
    if samples:
        try:
            last = datetime.fromisoformat(str(samples[-1].get("at")))
        except ValueError:
            last = None
        recent = last is not None and (at - last).total_seconds() < HISTORY_STEP_S
        if recent and samples[-1].get("online") == status.online:
            return samples[-HISTORY_SAMPLES:]
    return [*samples, sample][-HISTORY_SAMPLES:]


def fps_history(status: dict | None, camera_id: str) -> list[float | None]:
    hist = (status or {}).get("history") if isinstance(status, dict) else None
    out: list[float | None] = []
    for h in hist if isinstance(hist, list) else []:
        fps = h.get("fps") if isinstance(h, dict) else None
        v = fps.get(camera_id) if isinstance(fps, dict) and h.get("online") else None
        out.append(float(v) if isinstance(v, int | float) else None)
    return out


def online_share(status: dict | None) -> float | None:
    hist = (status or {}).get("history") if isinstance(status, dict) else None
    if not isinstance(hist, list) or not hist:
        return None
    return sum(1 for h in hist if isinstance(h, dict) and h.get("online")) / len(hist)


def down_reason(d: Device, now: datetime, stale_after_s: float = 180) -> str:
    """Why a device is not reporting, in words (the page shows it beside "offline")."""
    if d.online is None or d.last_seen is None:
        return "never reported: not installed yet, or its broker login fails"
    age = (now - d.last_seen).total_seconds()
    if d.online is False:
        return (
            f"disconnected {_span(age)} ago (the broker sent its last will: power, network or the "
            "gateway process stopped)"
        )
    if age > stale_after_s:
        return f"no heartbeat for {_span(age)} (connected but silent: the gateway may be hung)"
    return ""


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


# --- camera snapshots (issue 17) ------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotView:
    """What the devices page and the API say about a camera's latest snapshot (the bytes
    stay in the database until the image URL is fetched)."""

    device_id: str
    camera_id: str
    taken: datetime
    received: datetime
    width: int
    height: int
    blurred_people: int
    blurred_faces: int

    @property
    def url(self) -> str:
        # Ids are [A-Za-z0-9_.-] (wire.DeviceId): safe in a path. ``v`` changes with each
        # new snapshot, so a refreshed page shows the new picture.
        v = int(self.taken.timestamp())
        return f"/api/devices/{self.device_id}/cameras/{self.camera_id}/snapshot.jpg?v={v}"


def snapshot_views(session: Session) -> dict[tuple[str, str], SnapshotView]:
    cols = [c for c in CameraSnapshot.__table__.columns if c.name != "jpeg"]
    rows = session.execute(sa.select(*cols)).all()
    return {(r.device_id, r.camera_id): SnapshotView(**r._mapping) for r in rows}


def read_snapshot(session: Session, device_id: str, camera_id: str) -> bytes | None:
    """The latest snapshot's JPEG (central's re-encoding), or None."""
    return session.execute(
        sa.select(CameraSnapshot.jpeg).where(
            CameraSnapshot.device_id == device_id, CameraSnapshot.camera_id == camera_id
        )
    ).scalar_one_or_none()


def age_text(seconds: float) -> str:
    """ "taken 40 s ago" style ages: seconds under 2 min, then minutes, hours, days."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s ago"
    if s < 7200:
        return f"{s // 60} min ago"
    if s < 2 * 86400:
        return f"{s // 3600} h ago"
    return f"{s // 86400} d ago"
