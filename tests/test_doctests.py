"""Every docstring example in the packages runs (``>>>`` lines are tests too).

Collected here rather than with ``--doctest-modules`` so that modules which must not be
imported by a test run (Alembic's env.py and migration scripts run on import) are
skipped by name, and a module that fails to import fails loudly instead of silently.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ("jaywatch", "jaywatch_app", "edge", "central")
# Alembic runs env.py (and each revision) when it is imported: not library code.
NOT_IMPORTED = ("central.migrations",)


def _modules() -> list[str]:
    names = []
    for pkg in PACKAGES:
        names.append(pkg)
        path = importlib.import_module(pkg).__path__
        for info in pkgutil.walk_packages(path, prefix=f"{pkg}."):
            if not info.name.startswith(NOT_IMPORTED) and info.name.split(".")[-1] != "__main__":
                names.append(info.name)
    return sorted(names)


def _with_examples() -> list[str]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    out = []
    for name in _modules():
        module = importlib.import_module(name)  # an import error fails the collection
        if any(t.examples for t in finder.find(module, name)):
            out.append(name)
    return out


MODULES = _with_examples()


def test_doctests_are_found_across_the_packages() -> None:
    # The collection must see the packages' examples (a broken walk would pass vacuously).
    assert {m.split(".")[0] for m in MODULES} >= {"jaywatch", "edge", "central"}
    assert len(MODULES) >= 10, MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
