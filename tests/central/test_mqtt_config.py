"""``mqtt.mqtt_version``: MQTT 5 by default; 3.1.1 (the demo's embedded broker) has no
shared subscriptions, so the config refuses the one key that implies several workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.config import load_config


def _load(tmp_path: Path, mqtt: str) -> object:
    p = tmp_path / "central.yaml"
    p.write_text(f"mqtt:\n{mqtt}")
    return load_config(p).mqtt


def test_default_is_mqtt5_and_an_unquoted_5_reads_as_5(tmp_path: Path) -> None:
    assert _load(tmp_path, "  port: 1883\n").mqtt_version == "5"  # type: ignore[attr-defined]
    assert _load(tmp_path, "  mqtt_version: 5\n").mqtt_version == "5"  # type: ignore[attr-defined]


def test_mqtt_311_without_a_group_is_one_worker(tmp_path: Path) -> None:
    m = _load(tmp_path, "  mqtt_version: 3.1.1\n  client_id: demo-central-1\n")
    assert m.mqtt_version == "3.1.1"  # type: ignore[attr-defined]


def test_mqtt_311_with_a_shared_subscription_group_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as e:
        _load(tmp_path, "  mqtt_version: 3.1.1\n  group: central\n")
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / 'central.yaml'}: mqtt:")
    assert "mqtt.group" in msg and "mqtt.mqtt_version" in msg and "exactly one ingest worker" in msg
    assert "\n" not in msg


def test_an_unknown_mqtt_version_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"central\.yaml: mqtt\.mqtt_version: Input should be"):
        _load(tmp_path, "  mqtt_version: '4'\n")
