"""Publish each screen's feed on its MQTT display topic, retained, for LED sign controllers.

Retained so a controller that (re)connects gets the current state at once; the whole
feed every time, so a withdrawn item is simply no longer in it (and is listed in
``withdrawn`` for controllers that keep their own list).
"""

from __future__ import annotations

import paho.mqtt.client as mqtt

from central.config import MqttSettings
from central.display.feed import ScreenFeed
from central.mqtt_client import new_client
from jaywatch import wire


class DisplayMqttPublisher:
    def __init__(self, settings: MqttSettings, client_id: str | None = None) -> None:
        self.client = new_client(
            settings, client_id or f"{settings.client_id}-display", persistent=False
        )
        self.client.connect_async(settings.host, settings.port, keepalive=settings.keepalive_s)
        self.client.loop_start()

    def __call__(self, feed: ScreenFeed) -> None:
        info = self.client.publish(
            wire.display_topic(feed.screen_id), feed.model_dump_json(), qos=1, retain=True
        )
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"display publish: {mqtt.error_string(info.rc)}")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
