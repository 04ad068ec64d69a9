"""The ``jaywatch`` command: each installed role registers its own sub-commands.

A gateway installs only the edge extra, so ``central`` may be missing (and vice versa):
a role whose package cannot be imported simply does not offer its commands.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

ROLE_CLIS = ("edge.cli", "central.cli")


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
    for name in ROLE_CLIS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            # Only a missing role (or its extra) is tolerated, never a bug inside it.
            if e.name and (e.name == name or not e.name.startswith(("edge", "central"))):
                continue
            raise
        module.register(sub)
    try:  # the demo needs both roles
        from jaywatch import demo
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith(("edge", "central")):
            raise
    else:
        demo.register(sub)
    return parser


# Our own packages: what a service says about itself (started, connected, stored N).
OWN_LOGGERS = ("edge", "central", "jaywatch")


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
    args = build_parser().parse_args(argv)
    args.verbose = verbosity
    configure_logging(verbosity)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
