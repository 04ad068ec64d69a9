"""Device key files: owner-only, loadable, refused when unsafe, and `jaywatch edge keygen`."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from edge.keys import KeyFileError, generate_key_file, load_device_key, public_key_b64
from jaywatch.wire import Ack, new_event_id, public_key_bytes, sign_message, verify_message
from jaywatch_app.cli import main


def test_generated_key_is_owner_only_and_round_trips(tmp_path) -> None:
    p = tmp_path / "device.key"
    old = os.umask(0)  # even a permissive umask must not widen the key file
    try:
        key = generate_key_file(p)
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert p.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    loaded = load_device_key(p)
    assert public_key_bytes(loaded) == public_key_bytes(key)
    msg = sign_message(Ack(device_id="gw", event_id=new_event_id(), status="stored"), loaded)
    assert verify_message(msg, base64.b64decode(public_key_b64(key)))
    assert [f.name for f in tmp_path.iterdir()] == ["device.key"]  # no temp file left


def test_existing_key_is_not_replaced_without_force(tmp_path) -> None:
    p = tmp_path / "device.key"
    first = generate_key_file(p)
    with pytest.raises(KeyFileError, match="already exists"):
        generate_key_file(p)
    assert public_key_bytes(load_device_key(p)) == public_key_bytes(first)
    second = generate_key_file(p, overwrite=True)
    assert (
        public_key_bytes(load_device_key(p)) == public_key_bytes(second) != public_key_bytes(first)
    )


def test_unsafe_or_wrong_key_files_are_refused_with_the_fix(tmp_path) -> None:
    with pytest.raises(KeyFileError, match=r"not found.*jaywatch edge keygen"):
        load_device_key(tmp_path / "missing.key")
    p = tmp_path / "device.key"
    generate_key_file(p)
    p.chmod(0o644)
    with pytest.raises(KeyFileError, match=r"0644 are too open.*chmod 600"):
        load_device_key(p)
    junk = tmp_path / "junk.key"
    junk.write_text("not a key")
    junk.chmod(0o600)
    with pytest.raises(KeyFileError, match=r"junk\.key: not an unencrypted PEM"):
        load_device_key(junk)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ecp = tmp_path / "ec.key"
    ecp.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ecp.chmod(0o600)
    with pytest.raises(KeyFileError, match="expected an Ed25519 private key"):
        load_device_key(ecp)
    with pytest.raises(KeyFileError, match="directory does not exist"):
        generate_key_file(tmp_path / "nope" / "k.key")


def test_keygen_command_prints_the_public_key(tmp_path, capsys) -> None:
    out = tmp_path / "gw.key"
    assert main(["edge", "keygen", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.strip()
    assert base64.b64decode(printed) == public_key_bytes(load_device_key(out))
    assert main(["edge", "keygen", "--out", str(out)]) == 2  # refuses to replace
    assert "already exists" in capsys.readouterr().err
    assert main(["edge", "keygen", "--out", str(out), "--force"]) == 0
    assert capsys.readouterr().out.strip() != printed
