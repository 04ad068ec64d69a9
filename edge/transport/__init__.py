"""Edge → central delivery over MQTT: the link, the publisher loop and ack handling."""

from edge.transport.acks import AckOutcome, parse_ack
from edge.transport.mqtt import LinkStats, MqttLink

__all__ = ["AckOutcome", "LinkStats", "MqttLink", "parse_ack"]
