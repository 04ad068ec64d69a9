"""Gallery version announcements (retained on ``wire.GALLERY_TOPIC``).

Only the version bookkeeping lives here: the snapshot itself (face embeddings per
backend) is computed with the edge's backends, which central must not import — a
separate enrolment tool builds it. ``sha256`` here covers the enrolled person ids of
the version, not a snapshot file.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from central.config import MqttSettings
from central.store.models import GalleryVersion
from jaywatch import wire


def announcement(gv: GalleryVersion, base_url: str) -> wire.GalleryAnnouncement:
    return wire.GalleryAnnouncement(
        device_id="central",
        version=str(gv.version),
        sha256=gv.person_ids_sha256,
        url=f"{base_url.rstrip('/')}/api/gallery/{gv.version}",
    )


def publish_retained(m: MqttSettings, msg: wire.GalleryAnnouncement, timeout: float = 10) -> None:
    """Publish the announcement retained (QoS 1), so edges that connect later see it."""
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"{m.client_id}-gallery", protocol=mqtt.MQTTv5
    )
    if m.username:
        c.username_pw_set(m.username, m.password)
    if m.cafile:
        c.tls_set(ca_certs=m.cafile)
    c.connect(m.host, m.port, m.keepalive_s)
    c.loop_start()
    try:
        c.publish(wire.GALLERY_TOPIC, msg.model_dump_json(), qos=1, retain=True).wait_for_publish(
            timeout
        )
    finally:
        c.disconnect()
        c.loop_stop()
