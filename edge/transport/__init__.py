"""Edge → central delivery over MQTT: the link, the publisher loop and ack handling."""

from edge.transport.acks import AckOutcome, apply_ack, parse_ack
from edge.transport.mqtt import LinkStats, MqttLink

__all__ = ["AckOutcome", "LinkStats", "MqttLink", "apply_ack", "parse_ack"]
