"""CSV exports of events and fines for statisticians, streamed row by row.

Who: supervisors, auditors and admins (the roles that oversee the programme; operators
review cases one at a time and have no need for bulk data). What: what a statistician
needs to count and time the programme and nothing that names anyone — no person id,
name, phone, fine reference or access code, and no operator name (per-operator figures
are on the dashboard for those allowed to see them). Every export is audited with its
filters before the first row is sent.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central import audit
from central.store.models import Event, Fine
from central.workflow.common import Actor, require_role
from central.workflow.dashboard import Period, _in_period

EXPORT_ROLES = ("supervisor", "auditor", "admin")
EVENT_COLUMNS = (
    "event_id", "device_id", "camera_id", "occurred", "received", "offence_code", "status",
    "reason_code", "matched", "match_score", "decided_at", "decide_seconds", "fine_status",
)  # fmt: skip
FINE_COLUMNS = (
    "event_id", "device_id", "camera_id", "offence_code", "occurred", "issued", "due",
    "status", "amount_cents", "currency", "points", "paid_at", "voided_at", "closed_at",
)  # fmt: skip
BATCH = 2000


def _iso(t: object) -> str:
    return t.isoformat() if t is not None else ""  # type: ignore[attr-defined]


def _csv_line(values: list[object]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def _event_rows(s: Session, period: Period) -> Iterator[list[object]]:
    q = _in_period(
        sa.select(Event, Fine.status).outerjoin(Fine, Fine.event_pk == Event.id),
        period,
    ).order_by(Event.occurred, Event.id)
    for e, fine_status in s.execute(q).yield_per(BATCH):
        wait = (e.decided_at - e.received).total_seconds() if e.decided_at else None
        yield [
            e.event_id, e.device_id, e.camera_id, _iso(e.occurred), _iso(e.received),
            e.offence_code, e.status, e.reason_code or "", int(e.match_person_id is not None),
            "" if e.match_score is None else f"{e.match_score:.4f}", _iso(e.decided_at),
            "" if wait is None else f"{wait:.0f}", fine_status or "",
        ]  # fmt: skip
        s.expunge(e)


def _fine_rows(s: Session, period: Period) -> Iterator[list[object]]:
    q = _in_period(
        sa.select(Fine, Event.event_id, Event.device_id, Event.camera_id).join(
            Event, Event.id == Fine.event_pk
        ),
        period,
    ).order_by(Event.occurred, Fine.id)
    for f, event_id, device, camera in s.execute(q).yield_per(BATCH):
        yield [
            event_id, device, camera, f.offence_code, _iso(f.occurred), _iso(f.issued),
            _iso(f.due), f.status, f.amount_cents, f.currency, f.points, _iso(f.paid_at),
            _iso(f.voided_at), _iso(f.closed_at),
        ]  # fmt: skip
        s.expunge(f)


KINDS = {"events": (EVENT_COLUMNS, _event_rows), "fines": (FINE_COLUMNS, _fine_rows)}


def export_csv(
    begin: Callable[[], AbstractContextManager[Session]],
    read: Callable[[], AbstractContextManager[Session]],
    actor: Actor,
    kind: str,
    period: Period,
) -> Iterator[str]:
    """Audit the export (committed before anything is sent), then yield the CSV lines.

    ``begin`` opens a write transaction (the audit entry), ``read`` a read-only session
    kept open while the response streams. Refused roles and kinds raise here, before
    the response starts."""
    require_role(actor, *EXPORT_ROLES)
    if kind not in KINDS:
        raise ValueError(f"export: expected one of {', '.join(KINDS)}, got {kind[:20]!r}")
    with begin() as s:
        audit.record(
            s, actor.label, f"export.{kind}", f"export:{kind}",
            {"from": period.first_day.isoformat(), "to": period.last_day.isoformat(),
             "camera": period.camera},
        )  # fmt: skip
    columns, rows = KINDS[kind]

    def lines() -> Iterator[str]:
        yield _csv_line(list(columns))
        with read() as s:
            for row in rows(s, period):
                yield _csv_line(row)

    return lines()


def filename(kind: str, period: Period) -> str:
    return f"jaywatch-{kind}-{period.first_day}-{period.last_day}.csv"
