"""Run Python in a child process where some installed packages cannot be imported.

The only way to see what a gateway without the central extra (or a machine without
OpenCV) sees, in an environment that has everything installed: a finder first on
``sys.meta_path`` refuses the named top-level packages, so both ``import x`` and
``importlib.util.find_spec("x")`` fail as they would if ``x`` were not installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_PRELUDE = """
import sys

class _Blocked:
    names = frozenset({names!r})

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {{fullname!r}}", name=fullname)
        return None

sys.meta_path.insert(0, _Blocked())
"""


def run_without(
    blocked: set[str], code: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -c code`` with ``blocked`` top-level packages uninstallable."""
    prelude = _PRELUDE.format(names=sorted(blocked))
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
    )
