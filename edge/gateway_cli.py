"""Gateway sub-commands that belong to delivery and device security.

The lead's ``edge/cli.py`` owns the ``jaywatch edge`` group and calls
``add_commands(edge_subparsers)`` to add these to it.
"""

from __future__ import annotations

import argparse
import sys


def add_commands(edge_subparsers: argparse._SubParsersAction) -> None:
    """Add ``keygen`` to the ``jaywatch edge`` command group."""
    p = edge_subparsers.add_parser(
        "keygen",
        help="create this gateway's Ed25519 signing key",
        description=(
            "Write a new Ed25519 private key (PEM, mode 0600) and print its public key "
            "(base64) for registering the device at central."
        ),
    )
    p.add_argument("--out", required=True, metavar="KEYFILE", help="where to write the key")
    p.add_argument("--force", action="store_true", help="replace an existing key file")
    p.set_defaults(func=_keygen)


def _keygen(args: argparse.Namespace) -> int:
    from edge.keys import KeyFileError, generate_key_file, public_key_b64

    try:
        key = generate_key_file(args.out, overwrite=args.force)
    except (KeyFileError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(public_key_b64(key))
    print(
        f"wrote {args.out} (0600); register the public key above at central",
        file=sys.stderr,
    )
    return 0
