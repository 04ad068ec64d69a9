"""``jaywatch central notices send|status|resolve``.

``add_commands(central_subparsers)`` is called by central/cli.py; ``python -m
central.notices.cli`` runs the same commands on their own (tests start workers so).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from typing import Any


def _common(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: never clobber a --config the parent 'central' parser may already define.
    p.add_argument("--config", default=argparse.SUPPRESS, help="central config YAML (database)")
    p.add_argument(
        "--notices-config",
        dest="notices_config",
        default=argparse.SUPPRESS,
        help="notices YAML: provider, retry, templates "
        "(default: $JAYWATCH_NOTICES_CONFIG, else the log provider)",
    )


def add_commands(central_sub: argparse._SubParsersAction) -> None:
    notices = central_sub.add_parser("notices", help="SMS notices: send the outbox, show status")
    sub = notices.add_subparsers(dest="notices_command", required=True, metavar="COMMAND")

    p = sub.add_parser("send", help="run the SMS sender (claims pending notices)")
    _common(p)
    p.add_argument("--once", action="store_true", help="send what is due now, then exit")
    p.add_argument(
        "--receipt-wait", type=float, default=0.0, help="with --once: wait this long for receipts"
    )
    p.set_defaults(func=_cmd_send)

    p = sub.add_parser("status", help="delivery status per notice")
    _common(p)
    p.add_argument("--status", help="only notices in this status (e.g. paper_required)")
    p.add_argument("--fine", type=int, help="only notices of this fine id")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser(
        "resolve", help="resolve a check_required notice after checking the provider"
    )
    _common(p)
    p.add_argument("notice_id", type=int)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--was-sent", action="store_true", help="the provider shows it was sent")
    g.add_argument("--resend", action="store_true", help="the provider has no record: send again")
    p.add_argument("--actor", required=True, help="who decides (recorded in the audit log)")
    p.add_argument("--note", default="")
    p.set_defaults(func=_cmd_resolve)


def _open(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from central.config import load_config
    from central.notices.config import load_notices_config
    from central.store.db import open_db

    config = load_config(getattr(args, "config", None) or os.environ.get("JAYWATCH_CENTRAL_CONFIG"))
    notices = load_notices_config(
        getattr(args, "notices_config", None) or os.environ.get("JAYWATCH_NOTICES_CONFIG")
    )
    engine, sessions = open_db(config.database_url)
    return config, notices, (engine, sessions)


def _cmd_send(args: argparse.Namespace) -> int:
    from central.notices.providers import create_provider
    from central.notices.worker import NoticeSender

    try:
        config, notices, (engine, sessions) = _open(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    sender = NoticeSender(sessions, notices, create_provider(notices), config.default_region)
    try:
        if args.once:
            stats = sender.run_once(receipt_wait_s=args.receipt_wait)
            print(json.dumps(vars(stats)))
            return 0
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        sender.run(stop)
        return 0
    finally:
        sender.close()
        engine.dispose()


def _cmd_status(args: argparse.Namespace) -> int:
    from central.notices.status import notice_statuses, status_counts

    try:
        _config, _notices, (engine, sessions) = _open(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        with sessions() as s:
            rows = notice_statuses(s, status=args.status, fine_id=args.fine, limit=args.limit)
            counts = status_counts(s)
    finally:
        engine.dispose()
    if args.json:
        for r in rows:
            print(json.dumps(vars(r), default=str))
        return 0
    print("counts: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    for r in rows:
        parts = f"{r.parts_delivered}/{r.parts} delivered" if r.parts else "-"
        line = f"#{r.notice_id} {r.kind:<16} {r.status:<14} attempts={r.attempts} {parts}"
        print(line + (f"  {r.last_error}" if r.last_error else ""))
    return 0


def _cmd_resolve(args: argparse.Namespace) -> int:
    from central.notices.status import resolve_check

    try:
        _config, _notices, (engine, sessions) = _open(args)
        with sessions.begin() as s:
            n = resolve_check(
                s, args.notice_id, was_sent=args.was_sent, actor=args.actor, note=args.note
            )
            print(f"notice {n.id}: {n.status}")
    except (ValueError, LookupError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if "engine" in locals():
            engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="central.notices.cli")
    add_commands(parser.add_subparsers(dest="central_command", required=True))
    args = parser.parse_args(["notices", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
