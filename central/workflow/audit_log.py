"""Reading and exporting the audit log: one set of functions for the console page
(central/web/audit.py) and the API (central/api/audit.py), so that every read of the
log is itself audited the same way whichever door it came through.

Exports carry each entry exactly as hashed (``at`` as hashed, ``details`` as stored,
``prev_hash`` and ``hash``), so an auditor can re-verify them offline with
``jaywatch central audit verify-export FILE`` (central/audit_export.py) without the
database.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central import audit
from central.store.models import AuditEntry
from central.workflow.common import Actor, require_role

READ_ROLES = ("auditor", "admin")
EXPORT_FORMAT = "jaywatch-audit-export/1"
CSV_COLUMNS = ("seq", "at", "actor", "action", "target", "details", "prev_hash", "hash")
# Actions that decide something about a person or money: shown prominently.
DECISION_PREFIXES = ("event.confirm", "event.dismiss", "appeal.", "fine.", "payment.", "person.")
MAX_PAGE = 1000


@dataclass(frozen=True)
class AuditFilter:
    """Exact ``actor``; ``action`` and ``target`` as prefixes (``event.`` / ``event:ID``);
    whole UTC days ``day_from``..``day_to``; ``before`` a seq for paging back."""

    actor: str = ""
    action: str = ""
    target: str = ""
    day_from: date | None = None
    day_to: date | None = None
    before: int | None = None
    after: int | None = None
    limit: int = 100

    def details(self) -> dict[str, Any]:
        """What the audit entry of a read records (the filters, not the results)."""
        d = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items()}
        return {k: v for k, v in d.items() if v not in ("", None)}


def _day(text: str | None, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{name}: expected a date YYYY-MM-DD, got {text[:40]!r}") from None


def parse_filter(
    actor: str = "",
    action: str = "",
    target: str = "",
    from_: str | None = None,
    to: str | None = None,
    before: int | None = None,
    after: int | None = None,
    limit: int = 100,
) -> AuditFilter:
    f = AuditFilter(
        actor=actor.strip()[:128],
        action=action.strip()[:64],
        target=target.strip()[:200],
        day_from=_day(from_, "from"),
        day_to=_day(to, "to"),
        before=before,
        after=after,
        limit=max(1, min(limit, MAX_PAGE)),
    )
    if f.day_from and f.day_to and f.day_from > f.day_to:
        raise ValueError(f"from: {f.day_from} is after to: {f.day_to}")
    return f


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _query(f: AuditFilter) -> sa.Select:
    q = sa.select(AuditEntry)
    if f.actor:
        q = q.where(AuditEntry.actor == f.actor)
    if f.action:
        q = q.where(AuditEntry.action.like(_like_prefix(f.action), escape="\\"))
    if f.target:
        q = q.where(AuditEntry.target.like(_like_prefix(f.target), escape="\\"))
    if f.day_from:
        q = q.where(AuditEntry.at >= datetime.combine(f.day_from, time(), UTC))
    if f.day_to:
        q = q.where(AuditEntry.at < datetime.combine(f.day_to + timedelta(days=1), time(), UTC))
    if f.before is not None:
        q = q.where(AuditEntry.seq < f.before)
    if f.after is not None:
        q = q.where(AuditEntry.seq > f.after)
    return q


def read_entries(
    session: Session, actor: Actor, f: AuditFilter, via: str, newest_first: bool = True
) -> list[AuditEntry]:
    """One page of entries matching ``f``; the read is recorded (``audit.read``, with the
    filters and ``via``: console or api) in the caller's transaction."""
    require_role(actor, *READ_ROLES)
    order = AuditEntry.seq.desc() if newest_first else AuditEntry.seq
    rows = list(session.execute(_query(f).order_by(order).limit(f.limit)).scalars())
    audit.record(session, actor.label, "audit.read", "audit_log", {**f.details(), "via": via})
    return rows


def is_decision(action: str) -> bool:
    return action.startswith(DECISION_PREFIXES) and not action.endswith((".read", ".list"))


def is_read(action: str) -> bool:
    return action.endswith(".read") or action.endswith("_read")


@dataclass
class EntryGroup:
    """Consecutive reads by one actor folded into one row; anything else stands alone."""

    entries: list[AuditEntry] = field(default_factory=list)

    @property
    def first(self) -> AuditEntry:
        return self.entries[0]

    @property
    def folded(self) -> bool:
        return len(self.entries) > 1

    @property
    def decision(self) -> bool:
        return is_decision(self.first.action)

    @property
    def targets(self) -> list[str]:
        return sorted({e.target for e in self.entries})


def group(entries: list[AuditEntry]) -> list[EntryGroup]:
    """Fold runs of reads by the same actor (opening one event writes ~10 of them), so
    the decisions between them stand out."""
    out: list[EntryGroup] = []
    for e in entries:
        last = out[-1] if out else None
        if (
            last is not None
            and is_read(e.action)
            and is_read(last.first.action)
            and last.first.actor == e.actor
        ):
            last.entries.append(e)
        else:
            out.append(EntryGroup([e]))
    return out


# --- export -------------------------------------------------------------------------------


def _as_exported(e: AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.at.isoformat(timespec="microseconds"),  # exactly as hashed
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "details": e.details,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


def export(
    begin: Callable[[], AbstractContextManager[Session]],
    read: Callable[[], AbstractContextManager[Session]],
    actor: Actor,
    f: AuditFilter,
    fmt: str,
    via: str,
) -> Iterator[str]:
    """All entries matching ``f`` (oldest first, no page limit) as CSV or JSON, streamed.
    The export is audited before the first byte; refusals raise before streaming."""
    require_role(actor, *READ_ROLES)
    if fmt not in ("csv", "json"):
        raise ValueError(f"format: expected csv or json, got {fmt[:10]!r}")
    with begin() as s:
        audit.record(
            s, actor.label, "audit.export", "audit_log", {**f.details(), "format": fmt, "via": via}
        )
    q = _query(f).order_by(AuditEntry.seq)

    def rows() -> Iterator[dict[str, Any]]:
        with read() as s:
            for e in s.execute(q).yield_per(2000).scalars():
                yield _as_exported(e)
                s.expunge(e)

    def as_csv() -> Iterator[str]:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for r in rows():
            r["details"] = json.dumps(r["details"], sort_keys=True, separators=(",", ":"))
            w.writerow([r[c] for c in CSV_COLUMNS])
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
        if buf.getvalue():
            yield buf.getvalue()

    def as_json() -> Iterator[str]:
        head = {"format": EXPORT_FORMAT, "genesis": audit.GENESIS, "filters": f.details()}
        yield json.dumps(head)[:-1] + ', "entries": ['
        for i, r in enumerate(rows()):
            yield ("," if i else "") + "\n" + json.dumps(r, sort_keys=True)
        yield "\n]}\n"

    return as_csv() if fmt == "csv" else as_json()
