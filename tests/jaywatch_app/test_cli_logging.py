"""The ``jaywatch`` command's logging: quiet by default, ``-v``/``-vv`` for more."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.central.helpers import REPO


def migrate(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    db = tmp_path / f"c{len(list(tmp_path.glob('c*.db')))}.db"  # a fresh DB: every upgrade runs
    cfg = tmp_path / "central.yaml"
    cfg.write_text(
        f"database_url: sqlite:///{db}\nevidence_dir: {tmp_path / 'ev'}\n"
        f"fines_file: {REPO / 'config' / 'fines.yaml'}\n"
    )
    argv = [
        sys.executable,
        "-m",
        "jaywatch_app.cli",
        *[f for f in flags[:1] if f],
        "central",
        "--config",
        str(cfg),
    ]
    r = subprocess.run(
        [*argv, "migrate", *flags[1:]], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert db.is_file()
    return r


def test_migrate_prints_no_alembic_info_by_default(tmp_path: Path) -> None:
    r = migrate(tmp_path)
    assert "alembic" not in r.stderr and " INFO " not in r.stderr, r.stderr
    assert r.stdout.strip() == "database schema is current"


def test_dash_v_before_or_after_the_command_shows_them(tmp_path: Path) -> None:
    before = migrate(tmp_path, "-v")
    assert "INFO alembic.runtime.migration: Running upgrade  -> 0001" in before.stderr
    assert " DEBUG " not in before.stderr
    after = migrate(tmp_path, "", "--verbose")  # `jaywatch central migrate --verbose`
    assert "INFO alembic.runtime.migration: Running upgrade" in after.stderr
    assert " DEBUG " in migrate(tmp_path, "-vv").stderr
