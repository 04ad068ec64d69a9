"""The one place central makes a paho client of its broker settings (``mqtt:``).

Ingest, the gallery announcer and the display publisher all need the same protocol
version, login, TLS and reconnect behaviour; building them in three places let them
drift (only ingest suppressed callback exceptions).
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from central.config import MqttSettings
from jaywatch.mqtt_options import client_kwargs


def new_client(
    m: MqttSettings, client_id: str, *, persistent: bool, manual_ack: bool = False
) -> mqtt.Client:
    """A paho 2 client (callback API v2) for ``m``, not yet connected.

    ``persistent``: the broker keeps the session across reconnects (ingest), else a clean
    session (short-lived announcers, the display publisher).
    """
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        manual_ack=manual_ack,
        **client_kwargs(m.mqtt_version, persistent=persistent),
    )
    if m.username:
        c.username_pw_set(m.username, m.login_password())
    if m.ca_file:
        c.tls_set(ca_certs=m.ca_file)
    c.reconnect_delay_set(0.2, 5)
    # An exception in a callback must never end paho's network thread (the broker link
    # would die silently while health still said connected).
    c.suppress_exceptions = True
    return c
