"""Devices: list them (the console's devices page reads the same rows) and register one
(its MQTT credentials and broker commands are shown once)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Response

from central.api import schemas as S
from central.api.deps import get_ctx, require
from central.context import Context
from central.workflow import devices
from central.workflow.common import Actor

router = APIRouter(prefix="/api")
Ctx = Annotated[Context, Depends(get_ctx)]


@router.get("/devices", response_model=list[S.DeviceOut], tags=["devices"])
def list_devices(
    ctx: Ctx, _a: Annotated[Actor, Depends(require(*devices.VIEW_ROLES))]
) -> list[S.DeviceOut]:
    with ctx.sessions() as s:
        snaps = devices.snapshot_views(s)
        return [
            S.DeviceOut.model_validate(d).model_copy(
                update={
                    "camera_health": [
                        S.CameraHealthOut.model_validate(c) for c in devices.camera_views(d.status)
                    ],
                    "snapshots": [
                        S.SnapshotOut(**dataclasses.asdict(v), url=v.url)
                        for (dev, _cam), v in sorted(snaps.items())
                        if dev == d.id
                    ],
                }
            )
            for d in devices.list_devices(s)
        ]


_ID = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


@router.get(
    "/devices/{device_id}/cameras/{camera_id}/snapshot.jpg",
    tags=["devices"],
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "no snapshot"}},
    response_class=Response,
)
def get_snapshot(
    device_id: Annotated[str, _ID],
    camera_id: Annotated[str, _ID],
    ctx: Ctx,
    _a: Annotated[Actor, Depends(require(*devices.VIEW_ROLES))],
) -> Response:
    """A camera's latest snapshot, people blurred (the devices page's thumbnail). Not
    audited as a read of personal data: nobody in it is recognisable by construction,
    and the page refreshes it every 15 s."""
    with ctx.sessions() as s:
        jpeg = devices.read_snapshot(s, device_id, camera_id)
    if jpeg is None:
        raise HTTPException(404, f"no snapshot of camera {camera_id} of device {device_id}")
    return Response(
        jpeg,
        media_type="image/jpeg",
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.post("/devices", response_model=S.DeviceCreated, status_code=201, tags=["devices"])
def add_device(
    body: S.DeviceIn, ctx: Ctx, actor: Annotated[Actor, Depends(require("admin"))]
) -> S.DeviceCreated:
    key = devices.parse_public_key(body.public_key)
    with ctx.sessions.begin() as s:
        c = devices.register_device(s, actor, body.device_id, key, body.place, body.cameras)
        # Inside the transaction: an unreadable ACL file registers nothing.
        lines = devices.broker_commands(c, ctx.config.broker_acl_file)
    return S.DeviceCreated(
        device_id=c.device_id,
        mqtt_username=c.mqtt_username,
        mqtt_password=c.mqtt_password,
        acl=c.acl(),
        broker_commands=lines,
    )
