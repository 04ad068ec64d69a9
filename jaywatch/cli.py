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
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
