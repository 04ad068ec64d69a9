"""The package layering (DESIGN.md), checked by import-linter with pyproject.toml's contracts.

``jaywatch`` (the contract) imports nothing of edge, central or the app; edge and
central never import each other, nor the app (``jaywatch_app``) above them.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.blocked_imports import REPO, run_without

LINT = (
    "import sys\nfrom importlinter.cli import lint_imports\n"
    "sys.exit(lint_imports(no_cache=True, no_logo=True))\n"
)


def lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LINT], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_the_repository_keeps_every_layering_contract() -> None:
    r = lint(REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 kept, 0 broken" in r.stdout


@pytest.mark.parametrize(
    ("importer", "imported", "broken"),
    [
        ("edge", "central", "edge never imports central"),
        ("central", "edge", "central never imports edge"),
        ("jaywatch", "jaywatch_app", "the contract package imports neither role nor the app"),
        ("jaywatch", "edge", "the contract package imports neither role nor the app"),
        ("central", "jaywatch_app", "the roles never import the app above them"),
    ],
)
def test_a_planted_import_breaks_its_contract(
    tmp_path: Path, importer: str, imported: str, broken: str
) -> None:
    # The shipped contracts on four stub packages, one of which imports another (even
    # inside a function: import-linter sees every import statement).
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = ["[tool.importlinter]", f"root_packages = {config['root_packages']!r}"]
    for c in config["contracts"]:
        lines += ["[[tool.importlinter.contracts]]"]
        lines += [f"{k} = {v!r}" for k, v in c.items()]
    (tmp_path / "pyproject.toml").write_text("\n".join(lines).replace("'", '"') + "\n")
    for pkg in config["root_packages"]:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / importer / "bad.py").write_text(f"def f():\n    import {imported}.x\n")
    (tmp_path / imported / "x.py").write_text("")
    r = lint(tmp_path)
    assert r.returncode != 0, r.stdout
    assert f"{broken} BROKEN" in r.stdout
    assert "1 broken" in r.stdout


def test_the_pure_rule_and_signal_states_import_without_opencv() -> None:
    r = run_without(
        {"cv2"},
        """
        import edge.rule.crossing, edge.signal
        from edge.signal import SignalState, ControllerFeedReader, create_signal_reader
        import sys
        assert "cv2" not in sys.modules
        try:
            edge.signal.RoiColourReader
        except ModuleNotFoundError as e:
            print("roi needs", e.name)
        """,
    )
    assert r.returncode == 0, r.stderr
    # the ROI reader itself is OpenCV: asking for it (and only that) needs cv2
    assert r.stdout.strip() == "roi needs cv2"
