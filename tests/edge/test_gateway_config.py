"""Gateway config: the shipped example validates; bad files fail with file + key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge.config import ConfigError
from edge.gateway_config import load_gateway_config

REPO = Path(__file__).resolve().parents[2]
CAMERA = {
    "id": "cam-north",
    "signal": {"roi": [10, 10, 20, 40]},
    "crossing": {"zone": [[0, 0], [100, 0], [100, 100]]},
}


def _write(d: Path, cfg: dict) -> Path:
    p = d / "edge.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


@pytest.fixture
def gw_dir(tmp_path: Path) -> Path:
    (tmp_path / "cameras").mkdir()
    (tmp_path / "cameras" / "north.yaml").write_text(yaml.safe_dump(CAMERA))
    (tmp_path / "device.key").write_text("k")
    (tmp_path / "mqtt.password").write_text("secret\n")
    return tmp_path


def _base() -> dict:
    return {
        "device_id": "gw-0001",
        "key_file": "device.key",
        "broker": {"host": "b", "tls": False, "password_file": "mqtt.password"},
        "outbox": {"path": "outbox.sqlite"},
        "cameras": ["cameras/north.yaml"],
    }


def test_example_config_validates() -> None:
    cfg = load_gateway_config(REPO / "config/edge.example.yaml", check_files=False)
    assert cfg.device_id == "gw-0001" and cfg.mqtt_username == "gw-0001"
    assert cfg.broker.tls and cfg.broker.port == 8883
    assert cfg.cameras[0].is_absolute()


def test_relative_paths_resolve_against_the_file_and_files_are_checked(gw_dir: Path) -> None:
    cfg = load_gateway_config(_write(gw_dir, _base()))
    assert cfg.key_file == gw_dir / "device.key"
    assert cfg.outbox.path == gw_dir / "outbox.sqlite"
    assert cfg.broker.read_password() == "secret"
    assert [c.id for c in cfg.load_cameras()] == ["cam-north"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"device_id": "gw/1"}, "edge.yaml: device_id: String should match pattern"),
        (
            {"broker": {"port": 70000}},
            "edge.yaml: broker.port: Input should be less than or equal to 65535",
        ),
        ({"cameras": []}, "edge.yaml: cameras: List should have at least 1 item"),
        (
            {"key_file": "missing.key"},
            "edge.yaml: key_file: file not found: .*missing.key .*keygen",
        ),
        (
            {"central_public_key": "abc"},
            "edge.yaml: central_public_key: expected base64 of a 32-byte",
        ),
        (
            {"outbox": {"path": "nodir/o.sqlite"}},
            "edge.yaml: outbox.path: directory does not exist",
        ),
        ({"cameras": ["cameras/north.yaml", "cameras/north.yaml"]}, "listed twice"),
        (
            {"health": {"interval_s": 0}},
            "edge.yaml: health.interval_s: Input should be greater than 0",
        ),
        ({"bogus": 1}, "edge.yaml: bogus: Extra inputs are not permitted"),
        (
            {"broker": {"mqtt_version": "3.1"}},
            "edge.yaml: broker.mqtt_version: Input should be '5' or '3.1.1'",
        ),
    ],
)
def test_bad_config_names_file_and_key(gw_dir: Path, change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_gateway_config(_write(gw_dir, {**_base(), **change}))


def test_a_bad_camera_file_is_named(gw_dir: Path) -> None:
    (gw_dir / "cameras" / "north.yaml").write_text(
        yaml.safe_dump({**CAMERA, "crossing": {"zone": [[0, 0]]}})
    )
    with pytest.raises(ConfigError, match=r"north.yaml: crossing.zone: expected at least 3"):
        load_gateway_config(_write(gw_dir, _base()))
    (gw_dir / "cameras" / "south.yaml").write_text(yaml.safe_dump(CAMERA))
    (gw_dir / "cameras" / "north.yaml").write_text(yaml.safe_dump(CAMERA))
    with pytest.raises(ConfigError, match="camera id 'cam-north' is also used by"):
        load_gateway_config(
            _write(gw_dir, {**_base(), "cameras": ["cameras/north.yaml", "cameras/south.yaml"]})
        )


@pytest.mark.parametrize(("yaml_value", "version"), [(None, "5"), (5, "5"), ("3.1.1", "3.1.1")])
def test_mqtt_version_defaults_to_5_and_reads_an_unquoted_5(
    gw_dir: Path, yaml_value: object, version: str
) -> None:
    cfg = _base()
    if yaml_value is not None:
        cfg["broker"] = {**cfg["broker"], "mqtt_version": yaml_value}
    assert load_gateway_config(_write(gw_dir, cfg)).broker.mqtt_version == version
