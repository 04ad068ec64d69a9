"""The ``jaywatch`` command: each role registers its own sub-commands.

This is the app layer, above ``edge`` and ``central`` (which never import each other, and
which the contract package ``jaywatch`` never imports). One distribution ships both role
packages, so "is the role installed" means "is its extra installed": before a role's
command runs, the modules of that extra are looked up (without importing them) and a
missing one ends the command with one line naming the extra to install, exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from dataclasses import dataclass

from jaywatch.config_file import ConfigError


@dataclass(frozen=True)
class Role:
    """A role's commands, the module that registers them and what its extra installs."""

    extra: str  # the optional-dependencies group in pyproject.toml
    cli: str  # module with ``register(subparsers)``
    commands: tuple[str, ...]  # the top-level commands it registers
    # Import names of the extra's packages (pyproject.toml's list, by import name).
    modules: tuple[str, ...]


ROLES: tuple[Role, ...] = (
    Role(
        "edge",
        "edge.cli",
        ("edge", "gallery"),
        (
            "cv2",
            "onnxruntime",
            "faiss",
            "dlib",
            "PIL",
            "click",
            "scipy",
            "prometheus_client",
            "av",
            "httpx",
            "ruamel.yaml",
        ),
    ),
    Role(
        "central",
        "central.cli",
        ("central",),
        (
            "babel",
            "fastapi",
            "uvicorn",
            "sqlalchemy",
            "alembic",
            "psycopg",
            "jinja2",
            "multipart",
            "argon2",
            "phonenumbers",
            "smpplib",
            "httpx",
            "PIL",
            "matplotlib",
            "prometheus_client",
            "reportlab",
            "fastapi_offline",
        ),
    ),
)
# The demo runs both roles on one machine.
DEMO_NEEDS = ("edge", "central")


def _importable(module: str) -> bool:
    """Whether ``module`` can be found, without importing it (a parent package is)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package, or a blocked import
        return False


def missing_modules(role: Role) -> list[str]:
    """The role's extra's modules that are not installed (empty: the role can run)."""
    return [m for m in role.modules if not _importable(m)]


def role_problem(command: str) -> str | None:
    """One line saying which extra ``jaywatch COMMAND`` needs, or None when installed."""
    needed = DEMO_NEEDS if command == "demo" else [r.extra for r in ROLES if command in r.commands]
    roles = [r for r in ROLES if r.extra in needed]
    missing = {r.extra: missing_modules(r) for r in roles}
    absent = [extra for extra, mods in missing.items() if mods]
    if not absent:
        return None
    mods = sorted({m for extra in absent for m in missing[extra]})
    extras = ",".join(absent)
    return (
        f"jaywatch {command}: the {' and '.join(absent)} extra is not installed (missing "
        f"{', '.join(mods)}): pip install 'jaywatch[{extras}]'"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaywatch",
        description="Pedestrian red-signal enforcement: edge gateway, central service, demo.",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log lines: -v libraries' INFO too (alembic, httpx, MQTT), -vv DEBUG;"
        " may also be given after the command",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for role in ROLES:
        if missing_modules(role):
            # Listed in --help so a deployer sees what exists; main() refuses to run it.
            for name in role.commands:
                sub.add_parser(name, help=f"(not installed: pip install 'jaywatch[{role.extra}]')")
            continue
        importlib.import_module(role.cli).register(sub)
    from jaywatch_app import config_cli

    config_cli.register(sub)
    if role_problem("demo") is None:
        from jaywatch_app import demo

        demo.register(sub)
    return parser


# Our own packages: what a service says about itself (started, connected, stored N).
OWN_LOGGERS = ("edge", "central", "jaywatch", "jaywatch_app")


def configure_logging(verbosity: int) -> None:
    """The one place the CLI sets up logging.

    0 (default): our own loggers at INFO, everything else at WARNING, so a one-shot
    command is not buried under alembic's ~15 "Running upgrade ..." lines, httpx's
    request lines or the MQTT clients' chatter; their warnings and errors still show.
    1 (-v): everything at INFO. 2+ (-vv): everything at DEBUG.
    """
    level = logging.DEBUG if verbosity >= 2 else logging.INFO
    logging.basicConfig(
        level=level if verbosity else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)


def _split_verbosity(argv: list[str]) -> tuple[int, list[str]]:
    """Take -v/-vv/--verbose from anywhere before ``--`` (``jaywatch central migrate -v``
    works like ``jaywatch -v central migrate``)."""
    n, rest = 0, []
    for i, a in enumerate(argv):
        if a == "--":
            rest += argv[i:]
            break
        if a == "--verbose":
            n += 1
        elif len(a) >= 2 and a[0] == "-" and set(a[1:]) == {"v"}:
            n += len(a) - 1
        else:
            rest.append(a)
    return n, rest


def main(argv: list[str] | None = None) -> int:
    verbosity, argv = _split_verbosity(sys.argv[1:] if argv is None else list(argv))
    command = next((a for a in argv if not a.startswith("-")), None)
    problem = role_problem(command) if command else None
    if problem:
        print(problem, file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    args.verbose = verbosity
    configure_logging(verbosity)
    try:
        return int(args.func(args) or 0)
    except ConfigError as e:  # every config file of every role fails the same way
        print(f"jaywatch: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
