"""``jaywatch central evidence verify|export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def cmd_verify(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from central.cli import _cli_actor, _context
    from central.evidence.scrub import ScrubResult, event_pks, record_scrub, verify_one
    from central.store.models import utcnow

    if bool(args.event_id) == bool(args.all):
        print("error: give one EVENT_ID or --all", file=sys.stderr)
        return 2
    ctx = _context(args)
    actor = _cli_actor().label
    try:
        pks = event_pks(ctx.sessions, None if args.all else args.event_id)
        if not pks:
            print(f"error: event {args.event_id}: not found", file=sys.stderr)
            return 2
        res = ScrubResult(started=utcnow())
        bar = tqdm(total=len(pks), unit="event", file=sys.stderr, disable=not sys.stderr.isatty())
        for pk in pks:
            v = verify_one(ctx.sessions, ctx.evidence, pk, actor, res)
            if not v.ok:
                tqdm.write(f"FAIL {v.event_id}: " + "; ".join(v.problems), file=sys.stdout)
            bar.update(1)
        bar.close()
        if args.all:
            record_scrub(ctx.sessions, res, actor)
    finally:
        ctx.close()
    print(
        f"{res.checked} event(s) checked: {res.checked - len(res.failed)} intact "
        f"({res.purged} with evidence purged by retention), {len(res.failed)} NOT intact"
        + (f"; {res.backfilled} signed message(s) backfilled" if res.backfilled else "")
        + (f"; {res.restored} flag(s) cleared" if res.restored else "")
    )
    return 1 if res.failed else 0


def cmd_export(args: argparse.Namespace) -> int:
    from central.cli import _cli_actor, _context
    from central.evidence.integrity import EvidenceAltered, record_altered
    from central.evidence.package import build
    from central.workflow.common import NotFound

    out = Path(args.out)
    if not out.parent.is_dir():
        print(f"error: --out {out}: directory {out.parent} does not exist", file=sys.stderr)
        return 2
    ctx = _context(args)
    actor = _cli_actor().label
    try:
        try:
            with ctx.sessions.begin() as s:
                pkg = build(s, ctx.evidence, args.reference, actor, "staff (CLI)")
        except EvidenceAltered as e:
            record_altered(ctx.sessions.begin, e.event_id, e.problems, actor, "export")
            print(f"error: {e} (nothing exported)", file=sys.stderr)
            return 1
        except NotFound as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    finally:
        ctx.close()
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(pkg.data)
    tmp.replace(out)
    print(f"{out}: {len(pkg.data)} bytes, sha256 {pkg.sha256}")
    return 0


def add_commands(sub: Any) -> None:
    ev = sub.add_parser("evidence", help="evidence integrity and packages").add_subparsers(
        dest="evidence_command", required=True, metavar="COMMAND"
    )
    p = ev.add_parser(
        "verify",
        help="re-check signatures (registered device keys) and evidence hashes; exit 1 naming "
        "each event that does not hold",
    )
    p.add_argument("event_id", nargs="?", metavar="EVENT_ID")
    p.add_argument("--all", action="store_true", help="every event (recorded as a scrub)")
    p.set_defaults(func=cmd_verify)
    p = ev.add_parser(
        "export", help="write the evidence package (PDF, signed message, key, verifier) as a zip"
    )
    p.add_argument("reference", metavar="REFERENCE", help="fine reference (JW-…) or event id")
    p.add_argument("--out", required=True, metavar="FILE.zip")
    p.set_defaults(func=cmd_export)
