"""``jaywatch central payments import|record|list|settle|assign|fake-provider``."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections import Counter
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any


def _staff(s: Any, username: str, roles: tuple[str, ...]) -> Any:
    """The Actor of staff user ``username`` (who is audited), if their role is one of
    ``roles``; ValueError otherwise."""
    import sqlalchemy as sa

    from central.store.models import User
    from central.workflow.users import actor_of

    u = s.execute(sa.select(User).where(User.username == username)).scalar()
    if u is None or u.disabled:
        raise ValueError(f"--by {username}: no such active staff user")
    if u.role not in roles:
        raise ValueError(f"--by {username}: is {u.role}; needs one of: {', '.join(roles)}")
    return actor_of(u)


def _cents(text: str) -> int:
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"--amount: expected an amount like 30.00, got {text!r}") from None
    if d <= 0 or d != d.quantize(Decimal("0.01")):
        raise ValueError(f"--amount: expected a positive amount with at most 2 decimals: {text}")
    return int(d * 100)


def _money(cents: int, ccy: str) -> str:
    from central.fines import format_money

    return format_money(cents, ccy)


def _in_transaction(args: argparse.Namespace, work: Callable[[Any], str]) -> int:
    """Run ``work(session)`` in one transaction of the configured database and print the
    line it returns; a refused request (ValueError, WorkflowError) is one error line, exit 2."""
    from central.cli import _context
    from central.workflow.common import WorkflowError

    ctx = _context(args)
    try:
        with ctx.sessions.begin() as s:
            line = work(s)
    except (ValueError, WorkflowError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        ctx.close()
    print(line)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from central.cli import _context
    from central.payments.statements import load_statement
    from central.workflow.common import Actor
    from central.workflow.payments import import_statement

    path = Path(args.file)
    try:
        st = load_statement(path.read_bytes(), path.name, args.format)
    except FileNotFoundError:
        print(f"error: {path}: file not found", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    actor = Actor(name=f"cli:{getpass.getuser()}", role="system")
    ctx = _context(args)
    try:
        bar = tqdm(
            total=len(st.entries), unit="line", file=sys.stderr, disable=not sys.stderr.isatty()
        )
        out = import_statement(ctx.sessions.begin, actor, st, progress=bar.update)
        bar.close()
    finally:
        ctx.close()
    counts = Counter(o.status for o in out)
    outcomes = Counter(o.payment_outcome for o in out if o.status == "matched")
    for o in out:
        e = o.entry
        if o.status in ("unmatched", "ambiguous") or (
            o.status == "matched" and o.payment_outcome != "paid"
        ):
            print(
                f"{o.status.upper():9} line {e.line_no}: {_money(e.amount_cents, e.currency)} "
                f"{e.booked or ''} {e.counterparty!r} {e.remittance!r}: {o.reason}"
            )
    print(
        f"{path.name} ({st.source}): {len(out)} lines: {counts['matched']} matched "
        f"({', '.join(f'{n} {k}' for k, n in sorted(outcomes.items())) or 'none'}), "
        f"{counts['unmatched']} unmatched, {counts['ambiguous']} ambiguous, "
        f"{counts['duplicate']} imported before, {counts['debit']} debits skipped"
    )
    if counts["unmatched"] or counts["ambiguous"]:
        print("unmatched lines are kept for a supervisor: `jaywatch central payments list`")
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from central.workflow.payments import STAFF_PAYMENT_ROLES, record_staff_payment

    def work(s: Any) -> str:
        actor = _staff(s, args.by, STAFF_PAYMENT_ROLES)
        r = record_staff_payment(
            s, actor, args.reference, _cents(args.amount), args.currency.upper(),
            args.receipt, args.method, args.note,
        )  # fmt: skip
        line = (
            f"{r.fine.reference}: {_money(r.payment.amount_cents, r.payment.currency)} "
            f"receipt {r.payment.receipt_no}: "
            + (r.payment.outcome if r.newly_recorded else "already recorded")
            + f"; fine {r.fine.status}"
        )
        if r.adjustment is not None:
            a = r.adjustment
            line += f"; {a.kind} #{a.id} {_money(a.amount_cents, a.currency)}: {a.reason}"
        return line

    return _in_transaction(args, work)


def cmd_list(args: argparse.Namespace) -> int:
    from central.cli import _cli_actor, _context
    from central.workflow.payments import open_items

    ctx = _context(args)
    try:
        with ctx.sessions.begin() as s:
            got = open_items(s, _cli_actor())
            lines = [
                f"{a.kind} #{a.id} {ref} {_money(a.amount_cents, a.currency)} "
                f"{a.created:%Y-%m-%d}: {a.reason}"
                for a, ref in got.adjustments
            ] + [
                f"{x.status} line #{x.id} {x.file_name}:{x.line_no} "
                f"{_money(x.amount_cents, x.currency)} {x.counterparty!r} {x.remittance!r}: "
                f"{x.reason}"
                for x in got.lines
            ]
    finally:
        ctx.close()
    print("\n".join(lines) if lines else "nothing open")
    return 0


def cmd_settle(args: argparse.Namespace) -> int:
    from central.workflow.payments import SETTLE_ROLES, settle_adjustment

    def work(s: Any) -> str:
        actor = _staff(s, args.by, SETTLE_ROLES)
        a = settle_adjustment(s, actor, args.id, args.resolution, args.note)
        return f"{a.kind} #{a.id}: {a.resolution} by {a.settled_by}"

    return _in_transaction(args, work)


def cmd_assign(args: argparse.Namespace) -> int:
    from central.workflow.payments import SETTLE_ROLES, assign_statement_line

    def work(s: Any) -> str:
        r = assign_statement_line(s, _staff(s, args.by, SETTLE_ROLES), args.id, args.reference)
        return f"line #{args.id} -> {r.fine.reference}: {r.payment.outcome}"

    return _in_transaction(args, work)


def cmd_fake_provider(args: argparse.Namespace) -> int:
    import threading

    from central.payments.fake import FakeProvider
    from central.payments.secrets import read_secret_file

    try:
        secret = read_secret_file(args.secret_file, "--secret-file")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    fp = FakeProvider(secret, args.webhook_url, host=args.host, port=args.port).start()
    print(f"fake payment provider (no real money) on {fp.url}, webhooks to {args.webhook_url}")
    sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fp.stop()
    return 0


def add_commands(sub: Any) -> None:
    pay = sub.add_parser(
        "payments", help="payments: bank statements, cashier, refunds"
    ).add_subparsers(dest="payments_command", required=True, metavar="COMMAND")
    p = pay.add_parser(
        "import", help="import a bank statement (CSV or camt.053 XML), match reference + amount"
    )
    p.add_argument("file")
    p.add_argument("--format", choices=["auto", "csv", "camt053"], default="auto")
    p.set_defaults(func=cmd_import)

    p = pay.add_parser("record", help="a payment taken at a counter, with its receipt number")
    p.add_argument("reference")
    p.add_argument("--amount", required=True, help="e.g. 30.00")
    p.add_argument("--currency", required=True, help="ISO 4217, e.g. EUR")
    p.add_argument("--receipt", required=True, help="the receipt number issued")
    p.add_argument(
        "--method", default="cash", choices=["cash", "card", "cheque", "transfer", "other"]
    )
    p.add_argument("--note", default="")
    p.add_argument("--by", required=True, help="the cashier/supervisor (staff user name)")
    p.set_defaults(func=cmd_record)

    p = pay.add_parser("list", help="open refund/balance records and unmatched bank lines")
    p.set_defaults(func=cmd_list)

    p = pay.add_parser("settle", help="settle an open refund_due / balance_due record")
    p.add_argument("id", type=int)
    p.add_argument("--resolution", required=True, choices=["refunded", "waived"])
    p.add_argument("--note", required=True, help="what was done (e.g. the refund transfer id)")
    p.add_argument("--by", required=True, help="the supervisor (staff user name)")
    p.set_defaults(func=cmd_settle)

    p = pay.add_parser("assign", help="pay an unmatched bank line into the fine it was for")
    p.add_argument("id", type=int, help="statement line id (from `payments list`)")
    p.add_argument("reference")
    p.add_argument("--by", required=True, help="the supervisor (staff user name)")
    p.set_defaults(func=cmd_assign)

    p = pay.add_parser(
        "fake-provider", help="a local fake checkout provider (tests, demo): signs real webhooks"
    )
    p.add_argument("--secret-file", required=True)
    p.add_argument(
        "--webhook-url", required=True, help="e.g. http://127.0.0.1:8000/api/payments/webhook"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8790)
    p.set_defaults(func=cmd_fake_provider)
