"""``jaywatch edge outbox list|show|requeue|drop``: inspect and repair the gateway's outbox.

Reading (list, show) opens the SQLite file read-only, so it works while ``edge run`` is
running. Changing it (requeue, drop) takes the outbox's process lock like the gateway
does: two writers would each believe they own the resend schedule, so a running gateway
must be stopped first (the error says so). Every change is written to the outbox's
``operator_log`` table in the same transaction and logged.

States: ``pending`` (stored, not sent yet), ``in flight`` (sent, central has not acked
it yet; resent by back-off), ``rejected`` (central refused it; kept, never resent:
the edge's quarantine). ``quarantined`` is accepted as another name for ``rejected``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import getpass
import hashlib
import json
import logging
import sqlite3
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jaywatch.wire import printable

log = logging.getLogger(__name__)

STATES = ("pending", "in flight", "rejected")
_STATE_ALIASES = {"in-flight": "in flight", "inflight": "in flight", "quarantined": "rejected"}


class OutboxCliError(Exception):
    """One line for the operator; exit code 2."""


@dataclass(frozen=True)
class Row:
    event_id: str
    state: str
    camera_id: str
    created: str  # UTC ISO 8601
    reason: str
    size: int


def add_commands(edge_subparsers: argparse._SubParsersAction) -> None:
    src = argparse.ArgumentParser(add_help=False)
    where = src.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--config", type=Path, help="gateway YAML: uses its outbox.path (config/edge.example.yaml)"
    )
    where.add_argument("--outbox", type=Path, help="the outbox SQLite file itself")

    ob = edge_subparsers.add_parser(
        "outbox",
        help="inspect, requeue or drop the gateway's queued and rejected events",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ob.add_subparsers(dest="outbox_command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", parents=[src], help="one line per event (no evidence bytes)")
    p.add_argument(
        "--state",
        choices=[*STATES, *_STATE_ALIASES],
        help="only events in this state",
    )
    p.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser(
        "show", parents=[src], help="one event's metadata, rejection reason, evidence hashes"
    )
    p.add_argument("event_id", help="event id (or a unique prefix of at least 4 characters)")
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("requeue", parents=[src], help="send rejected event(s) again")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("event_id", nargs="?", help="a rejected event's id (or unique prefix)")
    what.add_argument("--all-rejected", action="store_true", help="every rejected event")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=_cmd_requeue)

    p = sub.add_parser("drop", parents=[src], help="delete one event for good (logged)")
    p.add_argument("event_id", help="event id (or a unique prefix of at least 4 characters)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=_cmd_drop)


# --- where the outbox is -------------------------------------------------------------


def _outbox_path(args: argparse.Namespace) -> Path:
    if args.outbox is not None:
        path = args.outbox
        origin = "--outbox"
    else:
        from edge.config import ConfigError
        from edge.gateway_config import load_gateway_config

        try:
            cfg = load_gateway_config(args.config, check_files=False)
        except ConfigError as e:
            raise OutboxCliError(str(e)) from None
        path = cfg.outbox.path
        origin = f"{args.config}: outbox.path"
    if not path.is_file():
        raise OutboxCliError(f"no outbox at {path} ({origin}); has the gateway run yet?")
    return path


def _read_only(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        db.execute("SELECT 1 FROM outbox LIMIT 1")
        db.execute("SELECT 1 FROM rejected LIMIT 1")
    except sqlite3.Error as e:
        raise OutboxCliError(f"{path}: not a readable jaywatch outbox ({e})") from None
    return db


# --- reading -------------------------------------------------------------------------


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _rows(db: sqlite3.Connection) -> list[Row]:
    out: list[Row] = []
    for eid, cam, created, attempts, nxt, size in db.execute(
        "SELECT event_id, camera_id, created, attempts, next_attempt_at, length(payload)"
        " FROM outbox ORDER BY seq"
    ):
        if attempts:
            state = "in flight"
            reason = f"sent {attempts}x, no ack from central yet; next try {_iso(nxt)}"
        else:
            state, reason = "pending", "not sent yet"
        out.append(Row(eid, state, cam, _iso(created), reason, size))
    for eid, cam, created, rejected_at, reason, size in db.execute(
        "SELECT event_id, camera_id, created, rejected_at, reason, length(payload)"
        " FROM rejected ORDER BY rejected_at"
    ):
        # central's reason may span lines: escaped, so one event stays one line
        why = f"{printable(reason, 500)} (at {_iso(rejected_at)})"
        out.append(Row(eid, "rejected", cam, _iso(created), why, size))
    return out


def _resolve_id(db: sqlite3.Connection, ident: str) -> tuple[str, str]:
    """The full event id and its table for an id or a unique prefix."""
    ident = ident.strip()
    hits: list[tuple[str, str]] = []
    for table in ("outbox", "rejected"):
        if len(ident) >= 4:
            # the id is ours (UUID text), but escape LIKE's wildcards anyway
            pat = ident.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            q = f"SELECT event_id FROM {table} WHERE event_id LIKE ? ESCAPE '\\'"
            hits += [(r[0], table) for r in db.execute(q, (pat,))]
        else:
            q = f"SELECT event_id FROM {table} WHERE event_id = ?"
            hits += [(r[0], table) for r in db.execute(q, (ident,))]
    exact = [h for h in hits if h[0] == ident]
    if exact:
        return exact[0]
    if not hits:
        raise OutboxCliError(f"event {ident!r}: not in the outbox (queued or rejected)")
    if len(hits) > 1:
        raise OutboxCliError(
            f"event {ident!r}: ambiguous prefix, matches {', '.join(h[0] for h in hits[:5])}"
        )
    return hits[0]


def _digest_b64(label: str, b64: str | None) -> dict[str, Any]:
    if b64 is None:
        return {"bytes": None, "sha256": None}
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return {"error": f"{label}: not valid base64"}
    return {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}


def describe_event(db: sqlite3.Connection, ident: str) -> dict[str, Any]:
    """What ``show`` prints: metadata and hashes, never the evidence bytes."""
    event_id, table = _resolve_id(db, ident)
    row = next(r for r in _rows(db) if r.event_id == event_id)
    (payload,) = db.execute(
        f"SELECT payload FROM {table} WHERE event_id = ?", (event_id,)
    ).fetchone()
    out: dict[str, Any] = asdict(row)
    out["payload"] = {"bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    try:
        ev = json.loads(payload)
        if not isinstance(ev, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError) as e:
        out["payload"]["error"] = f"payload is not a JSON object ({e})"
        return out
    keep = (
        "schema_version",
        "occurred",
        "t",
        "frame",
        "track_id",
        "bbox",
        "signal",
        "grace_s",
        "offence_code",
        "match",
        "site_tz",
        "place",
    )
    out["event"] = {k: ev[k] for k in keep if k in ev}
    out["event"]["signed"] = bool(ev.get("signature"))
    images = ev.get("evidence") if isinstance(ev.get("evidence"), list) else []
    out["evidence"] = [
        {
            "role": im.get("role"),
            "frame": im.get("frame"),
            "blurred_faces": im.get("blurred_faces"),
            **_digest_b64(f"evidence[{i}].jpeg_b64", im.get("jpeg_b64")),
        }
        for i, im in enumerate(images)
        if isinstance(im, dict)
    ]
    clip = ev.get("clip")
    if isinstance(clip, dict):
        got = _digest_b64("clip.webm_b64", clip.get("webm_b64"))
        out["clip"] = {
            k: clip.get(k) for k in ("codec", "frames", "fps", "width", "height", "size")
        } | {"sha256_signed": clip.get("sha256"), "sha256_of_bytes": got.get("sha256")}
    return out


# --- commands ------------------------------------------------------------------------


def _fail(msg: str) -> int:
    print(f"jaywatch: error: {msg}", file=sys.stderr)
    return 2


def _cmd_list(args: argparse.Namespace) -> int:
    try:
        db = _read_only(_outbox_path(args))
        rows = _rows(db)
    except OutboxCliError as e:
        return _fail(str(e))
    if args.state:
        state = _STATE_ALIASES.get(args.state, args.state)
        rows = [r for r in rows if r.state == state]
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    if not rows:
        print("outbox is empty" + (f" (state {args.state})" if args.state else ""))
        return 0
    head = ("ID", "STATE", "CAMERA", "CREATED", "SIZE", "REASON")
    table = [(r.event_id, r.state, r.camera_id, r.created, str(r.size), r.reason) for r in rows]
    widths = [max(len(x[i]) for x in [head, *table]) for i in range(5)]
    for line in [head, *table]:
        print("  ".join(c.ljust(w) for c, w in zip(line[:5], widths, strict=True)) + "  " + line[5])
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    try:
        db = _read_only(_outbox_path(args))
        out = describe_event(db, args.event_id)
    except OutboxCliError as e:
        return _fail(str(e))
    print(json.dumps(out, indent=2))
    return 0


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        print(f"{question} refused: not a terminal; pass --yes to confirm", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _open_for_change(path: Path):
    from edge.outbox import Outbox, OutboxError

    try:
        return Outbox(path)
    except OutboxError as e:
        hint = (
            " (stop the gateway first: systemctl stop jaywatch-edge)" if "in use" in str(e) else ""
        )
        raise OutboxCliError(f"{e}{hint}") from None


def _cmd_requeue(args: argparse.Namespace) -> int:
    who = getpass.getuser()
    try:
        path = _outbox_path(args)
        db = _read_only(path)
        if args.all_rejected:
            ids = [r[0] for r in db.execute("SELECT event_id FROM rejected ORDER BY rejected_at")]
            if not ids:
                print("no rejected events")
                return 0
        else:
            eid, table = _resolve_id(db, args.event_id)
            if table != "rejected":
                raise OutboxCliError(f"event {eid}: not rejected (it is still queued for sending)")
            ids = [eid]
        db.close()
        if not _confirm(f"requeue {len(ids)} rejected event(s) for sending?", args.yes):
            return 1
        with _open_for_change(path) as ob:
            n = ob.requeue_rejected(None if args.all_rejected else ids, by=who)
    except OutboxCliError as e:
        return _fail(str(e))
    log.warning("outbox %s: %d rejected event(s) requeued by %s: %s", path, n, who, ", ".join(ids))
    print(f"requeued {n} event(s): {', '.join(ids)}")
    return 0


def _cmd_drop(args: argparse.Namespace) -> int:
    who = getpass.getuser()
    try:
        path = _outbox_path(args)
        db = _read_only(path)
        eid, table = _resolve_id(db, args.event_id)
        db.close()
        state = "rejected" if table == "rejected" else "queued"
        if not _confirm(f"drop {state} event {eid} for good (its evidence is lost)?", args.yes):
            return 1
        with _open_for_change(path) as ob:
            dropped = ob.drop(eid, by=who)
    except OutboxCliError as e:
        return _fail(str(e))
    if dropped is None:  # acked or dropped between the look-up and the lock
        return _fail(f"event {eid}: no longer in the outbox")
    print(f"dropped {dropped} event {eid} (recorded in the outbox's operator_log)")
    return 0
