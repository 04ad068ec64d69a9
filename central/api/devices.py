"""Devices: list them (the console's devices page reads the same rows) and register one
(its MQTT credentials and broker commands are shown once)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

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
        return [
            S.DeviceOut.model_validate(d).model_copy(
                update={
                    "camera_health": [
                        S.CameraHealthOut.model_validate(c) for c in devices.camera_views(d.status)
                    ]
                }
            )
            for d in devices.list_devices(s)
        ]


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
