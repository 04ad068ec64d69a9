"""Each role's commands say which extra is missing, in one line, exit 2, no traceback."""

from __future__ import annotations

import pytest

from jaywatch_app.cli import ROLES, missing_modules, role_problem
from tests.blocked_imports import run_without

CENTRAL_ONLY = {"fastapi", "sqlalchemy", "alembic", "uvicorn", "psycopg", "reportlab"}
EDGE_ONLY = {"cv2", "onnxruntime", "faiss", "dlib", "scipy", "av", "click", "ruamel"}

MAIN = "from jaywatch_app.cli import main\nsys.exit(main({argv!r}))\n"


def test_everything_is_installed_here() -> None:
    # The suite runs with every extra: no role may report a missing module (a typo in
    # a role's module list would make its commands refuse to run everywhere).
    assert {r.extra: missing_modules(r) for r in ROLES} == {"edge": [], "central": []}
    assert role_problem("central") is None and role_problem("demo") is None


@pytest.mark.parametrize(
    "argv",
    [
        ["central", "--config", "config/central.example.yaml", "migrate"],
        ["-v", "central", "serve"],
        ["central", "--help"],
    ],
)
def test_an_edge_only_install_names_the_central_extra(argv: list[str]) -> None:
    r = run_without(CENTRAL_ONLY, MAIN.format(argv=argv))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "pip install 'jaywatch[central]'" in lines[0]
    assert "sqlalchemy" in lines[0]  # which module was looked for


def test_an_edge_only_install_still_runs_edge_commands(tmp_path) -> None:
    key = tmp_path / "device.key"
    r = run_without(CENTRAL_ONLY, MAIN.format(argv=["edge", "keygen", "--out", str(key)]))
    assert r.returncode == 0, r.stderr
    assert key.is_file()
    # --help lists central, marked as not installed
    r = run_without(CENTRAL_ONLY, MAIN.format(argv=["--help"]))
    assert r.returncode == 0, r.stderr
    assert "not installed: pip install 'jaywatch[central]'" in r.stdout


@pytest.mark.parametrize("argv", [["edge", "run", "--config", "x.yaml"], ["gallery", "--help"]])
def test_a_central_only_install_names_the_edge_extra(argv: list[str]) -> None:
    r = run_without(EDGE_ONLY, MAIN.format(argv=argv))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert "pip install 'jaywatch[edge]'" in r.stderr


def test_the_demo_needs_both_extras() -> None:
    r = run_without(EDGE_ONLY, MAIN.format(argv=["demo", "--headless"]))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "pip install 'jaywatch[edge]'" in r.stderr


def test_a_central_only_install_still_runs_central_commands(tmp_path) -> None:
    r = run_without(EDGE_ONLY, MAIN.format(argv=["central", "--help"]))
    assert r.returncode == 0, r.stderr
    assert "migrate" in r.stdout
