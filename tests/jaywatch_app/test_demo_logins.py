"""The demo creates a login for each of the four roles and prints every one of them."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.workflow.users import authenticate
from jaywatch import wire
from jaywatch_app import demo


def test_every_role_gets_a_printed_working_login(tmp_path: Path) -> None:
    ws = demo.fresh_workspace(tmp_path / "demo")
    cfg = demo.write_central_config(ws, 1883, 8080, "central-pw-for-test", "5")
    key = wire.generate_device_key()
    demo.setup_central(cfg, wire.public_key_bytes(key), [demo.scene("synthetic_rules")])
    text = demo.access_text("http://127.0.0.1:8080", ws)
    assert set(demo.LOGINS) == {"operator", "supervisor", "admin", "auditor"}
    engine = sa.create_engine(f"sqlite:///{ws / 'central.db'}")
    try:
        with Session(engine) as s:
            for role, (name, pw, page) in demo.LOGINS.items():
                (line,) = [ln for ln in text.splitlines() if ln.strip().startswith(f"{role} ")]
                assert f"http://127.0.0.1:8080{page}" in line and f"{name} / {pw}" in line
                user = authenticate(s, name, pw)
                assert user is not None and user.role == role
    finally:
        engine.dispose()
