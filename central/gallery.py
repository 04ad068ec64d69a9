"""Gallery version announcements (retained on ``wire.GALLERY_TOPIC``).

The announcement names a stored snapshot (central.workflow.gallery): its version, the
sha256 of the file (edges check it after download) and the download URL. The URL carries
the version's random download token: the file holds face embeddings, and only readers of
the announcement — devices, by the broker ACL — learn the token.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from central.config import MqttSettings
from central.store.models import GalleryVersion
from jaywatch import wire
from jaywatch.mqtt_options import client_kwargs


def announcement(gv: GalleryVersion, base_url: str) -> wire.GalleryAnnouncement:
    """Raises ValueError for a version without a stored file (nothing to fetch)."""
    if gv.snapshot_sha256 is None or gv.download_token is None:
        raise ValueError(f"gallery {gv.version}: no stored snapshot to announce")
    return wire.GalleryAnnouncement(
        device_id="central",
        version=str(gv.version),
        sha256=gv.snapshot_sha256,
        url=f"{base_url.rstrip('/')}/api/gallery/{gv.version}/{gv.download_token}",
    )


def publish_retained(
    m: MqttSettings,
    msg: wire.GalleryAnnouncement,
    timeout: float = 10,
    signing_key: Ed25519PrivateKey | None = None,
) -> None:
    """Publish the announcement retained (QoS 1), so edges that connect later see it.
    With ``signing_key`` (central's key) it is signed here, the one place every
    announcement passes, so gateways can require central's signature."""
    if signing_key is not None:
        msg = wire.sign_message(msg, signing_key)
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{m.client_id}-gallery",
        **client_kwargs(m.mqtt_version, persistent=False),
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
