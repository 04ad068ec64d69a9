"""Public display screens: the anonymised feed (SSE for kiosk pages, MQTT for LED signs)."""
