"""``jaywatch config schema KIND`` and the one config format (jaywatch/config_file.py).

Every shipped example validates against the schema the command prints and loads with
the loader its service uses; a wrong key is refused by both, naming file and key.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import jsonschema
import pytest
import yaml

from central.config import load_config
from central.fines import load_schedule
from central.notices.config import load_notices_config
from edge.config import load_camera_config
from edge.gallery.cli import load_faces_config
from edge.gateway_config import load_gateway_config
from jaywatch.config_file import ConfigError, DeprecatedKeyWarning
from jaywatch_app.config_cli import KINDS

REPO = Path(__file__).resolve().parents[2]
CAMERAS = [
    *sorted(REPO.glob("sample_media/scenes/*/camera.yaml")),
    REPO / "sample_media/faces/scene/camera.yaml",
]
EXAMPLES: dict[str, list[Path]] = {
    "camera": CAMERAS,
    "gateway": [REPO / "config/edge.example.yaml"],
    "faces": [REPO / "config/faces.example.yaml"],
    "central": [REPO / "config/central.example.yaml"],
    "notices": [REPO / "config/notices.example.yaml"],
    "fines": [REPO / "config/fines.yaml"],
}
LOADERS = {
    "camera": load_camera_config,
    "gateway": lambda p: load_gateway_config(p, check_files=False),
    "faces": load_faces_config,
    "central": load_config,
    "notices": load_notices_config,
    "fines": load_schedule,
}


def printed_schema(kind: str) -> dict:
    r = subprocess.run(
        [sys.executable, "-m", "jaywatch_app.cli", "config", "schema", kind],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def schemas() -> dict[str, dict]:
    return {kind: printed_schema(kind) for kind in KINDS}


def test_every_kind_has_shipped_examples() -> None:
    assert set(EXAMPLES) == set(KINDS) == set(LOADERS)
    assert len(CAMERAS) >= 4 and all(p.is_file() for ps in EXAMPLES.values() for p in ps)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_shipped_configs_match_their_schema_and_load(kind: str, schemas: dict) -> None:
    schema = schemas[kind]
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in EXAMPLES[kind]:
        data = yaml.safe_load(path.read_text())
        errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(data)]
        assert errors == [], path
        LOADERS[kind](path)  # the service's own loader accepts it too
    # descriptions reach the editor (Field(description=...), not comments)
    assert "description" in json.dumps(schema)


@pytest.mark.parametrize(
    ("kind", "section", "key"),
    [
        ("central", "mqtt", "prot"),
        ("gateway", "broker", "prot"),
        ("notices", "retry", "max_attempt"),
        ("camera", "signal", "roii"),
    ],
)
def test_a_wrong_key_names_the_file_and_the_key(
    tmp_path: Path, schemas: dict, kind: str, section: str, key: str
) -> None:
    data = yaml.safe_load(EXAMPLES[kind][0].read_text())
    data.setdefault(section, {})[key] = 1
    bad = tmp_path / f"bad-{kind}.yaml"
    bad.write_text(yaml.safe_dump(data))
    # the editor's schema flags it ...
    errors = list(jsonschema.Draft202012Validator(schemas[kind]).iter_errors(data))
    assert any(key in e.message for e in errors), errors
    # ... and so does the service, in one line: file, key path, what is wrong
    with pytest.raises(ConfigError) as e:
        LOADERS[kind](bad)
    assert str(e.value) == f"{bad}: {section}.{key}: Extra inputs are not permitted"


def test_a_wrong_key_through_the_shipped_command_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "central.yaml"
    bad.write_text("database_url: sqlite:///x.db\nmqtt: {host: b, prot: 1}\n")
    r = subprocess.run(
        [sys.executable, "-m", "jaywatch_app.cli", "central", "--config", str(bad), "migrate"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert r.returncode == 2
    assert r.stderr.strip() == f"jaywatch: error: {bad}: mqtt.prot: Extra inputs are not permitted"


def test_central_reads_the_old_cafile_spelling_with_a_warning(tmp_path: Path) -> None:
    old = tmp_path / "central.yaml"
    old.write_text("mqtt: {host: b, cafile: /etc/jaywatch/ca.crt}\n")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        cfg = load_config(old)
    assert cfg.mqtt.ca_file == "/etc/jaywatch/ca.crt"
    assert [str(x.message) for x in w if issubclass(x.category, DeprecatedKeyWarning)] == [
        "mqtt.cafile is deprecated: rename it to mqtt.ca_file"
    ]
    both = tmp_path / "both.yaml"
    both.write_text("mqtt: {cafile: a.crt, ca_file: b.crt}\n")
    with pytest.raises(ConfigError, match=r"mqtt: mqtt.cafile and mqtt.ca_file are the same"):
        load_config(both)


def test_central_reads_the_broker_password_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "mqtt.password").write_text("s3cret\n")
    cfg_file = tmp_path / "central.yaml"
    cfg_file.write_text(f"mqtt: {{password_file: {tmp_path / 'mqtt.password'}}}\n")
    assert load_config(cfg_file).mqtt.login_password() == "s3cret"
    cfg_file.write_text(f"mqtt: {{password: x, password_file: {tmp_path / 'mqtt.password'}}}\n")
    with pytest.raises(ConfigError, match="set password or password_file, not both"):
        load_config(cfg_file)
    missing = tmp_path / "c2.yaml"
    missing.write_text(f"mqtt: {{password_file: {tmp_path / 'nope'}}}\n")
    with pytest.raises(ConfigError, match=r"mqtt.password_file: .*nope: No such file"):
        load_config(missing).mqtt.login_password()
