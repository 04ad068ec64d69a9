"""MQTT protocol version of a paho client, shared by edge and central.

Deployments use MQTT 5 (shared subscriptions, session expiry, reason codes). MQTT 3.1.1
exists for the demo's embedded broker (amqtt speaks nothing else): no CONNECT
properties, ``clean_session=False`` for a persistent session, and no ``$share/``
subscriptions. paho 2.x with ``CallbackAPIVersion.VERSION2`` passes ReasonCode objects
and (empty) Properties to the callbacks under 3.1.1 too, so callbacks need no branches.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BeforeValidator

# YAML reads `mqtt_version: 5` as an int; accept it as "5".
MqttVersion = Annotated[Literal["5", "3.1.1"], BeforeValidator(str)]


def client_kwargs(version: str, *, persistent: bool) -> dict[str, Any]:
    """Keyword arguments for ``mqtt.Client``: the protocol and, for 3.1.1, whether the
    broker keeps the session (MQTT 5 says that at connect time instead)."""
    if version == "5":
        return {"protocol": mqtt.MQTTv5}
    return {"protocol": mqtt.MQTTv311, "clean_session": not persistent}


def connect_kwargs(
    version: str, *, session_expiry_s: int, receive_maximum: int | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``connect``/``connect_async`` of a persistent session: MQTT 5
    resumes it (``clean_start=False``) with an expiry; 3.1.1 has neither (paho refuses
    both), its persistence was set by ``clean_session`` in :func:`client_kwargs`."""
    if version != "5":
        return {}
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry_s
    if receive_maximum is not None:
        props.ReceiveMaximum = receive_maximum
    return {"clean_start": False, "properties": props}
