"""The review queue at a city's scale: filters, search, sort and keyset pages; the
history of decided cases; unidentified violations (statistics and bulk dismissal only).

One set of functions for the API (central/api/queue.py) and the console
(central/web/queue.py). Pages are keyset pages (``WHERE (sort, id) > (last sort, last
id)``, never OFFSET): page 500 costs what page 1 costs, and an event stored while someone
pages is neither skipped nor shown twice (it sorts before or after the cursor, once).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central import audit
from central.auth.roles import Permission, roles_for
from central.store import status_counts
from central.store.models import Device, Event, Fine, PaymentAdjustment, Person, User, utcnow
from central.store.status import EventStatus, FineStatus
from central.workflow import claims, review
from central.workflow.common import Actor, require_role

QUEUE_ROLES = roles_for(Permission.review_queue)
# Dismissing unidentified violations decides nothing about a person: those who see the
# queue may clear them.
BULK_ROLES = roles_for(Permission.review_queue)
# Filter values of ``status``: one stored status, or a group of them.
S = EventStatus
STATUS_GROUPS: dict[str, tuple[EventStatus, ...]] = {
    # waiting for a decision: a first one, or a second reviewer's (four-eyes)
    "pending_review": (S.pending_review, S.second_review),
    "second_review": (S.second_review,),
    "confirming": (S.confirming,),  # confirmed, the undo window runs (no fine yet)
    "decided": (S.confirmed, S.dismissed),
    "confirmed": (S.confirmed,),
    "dismissed": (S.dismissed,),
    "unidentified": (S.unidentified,),
}
Sort = Literal["oldest", "newest", "received", "score_high", "score_low", "decided"]
SORTS: tuple[str, ...] = ("oldest", "newest", "received", "score_high", "score_low", "decided")
MAX_PAGE = 200
# Reasons a violation nobody was identified for can be dismissed with ("wrong_person"
# makes no sense without a person).
UNIDENTIFIED_REASONS = ("not_a_violation", "poor_evidence", "signal_fault", "exempt", "other")
MAX_BULK = 5000  # per call: one audit entry lists every event it dismissed
# Filter values of ``fine``: the fine's stored status, or "refunded" (a supervisor settled
# a refund of money paid on it), the dashboard's fine tiles link to these lists.
FINE_FILTERS: tuple[str, ...] = ("any", *(str(s) for s in FineStatus), "refunded")


@dataclass(frozen=True)
class QueueFilter:
    """What a queue page shows. Every field is optional; dates are UTC days, inclusive."""

    status: str = "pending_review"
    device_id: str | None = None  # the site: one gateway at one intersection
    camera_id: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    matched: Literal["any", "matched", "unidentified"] = "any"
    score_min: float | None = None
    score_max: float | None = None
    altered: Literal["any", "yes", "no"] = "any"
    fine: str = "any"  # FINE_FILTERS
    q: str = ""  # event id, fine reference, person id or (part of a) person name
    sort: str = "oldest"

    def __post_init__(self) -> None:
        if self.status not in STATUS_GROUPS:
            raise ValueError(f"status: expected one of {list(STATUS_GROUPS)}, got {self.status!r}")
        if self.sort not in SORTS:
            raise ValueError(f"sort: expected one of {list(SORTS)}, got {self.sort!r}")
        if self.matched not in ("any", "matched", "unidentified"):
            raise ValueError(
                f"matched: expected any, matched or unidentified, got {self.matched!r}"
            )
        if self.altered not in ("any", "yes", "no"):
            raise ValueError(f"altered: expected any, yes or no, got {self.altered!r}")
        if self.fine not in FINE_FILTERS:
            raise ValueError(f"fine: expected one of {list(FINE_FILTERS)}, got {self.fine!r}")
        for name in ("score_min", "score_max"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and -1.0 <= v <= 1.0):
                raise ValueError(f"{name}: expected a number from -1 to 1, got {v!r}")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from: after date_to")
        if len(self.q) > 200:
            raise ValueError("q: at most 200 characters")

    def params(self) -> dict[str, str]:
        """The non-default fields as query parameters (links keep the filter)."""
        out: dict[str, str] = {}
        for k, default in vars(QueueFilter()).items():
            v = getattr(self, k)
            if v != default and v is not None:
                out[k] = v.isoformat() if isinstance(v, date) else str(v)
        return out


@dataclass(frozen=True)
class QueueRow:
    """One line of a queue page: enough to choose a case, nothing of the evidence."""

    pk: int
    event_id: str
    device_id: str
    camera_id: str
    place: str
    occurred: datetime
    received: datetime
    offence_code: str
    status: str
    reason_code: str | None
    matched: bool
    match_person_id: str | None
    match_score: float | None
    red_for_s: float | None
    evidence_altered: bool
    decided_by: str | None
    decided_at: datetime | None
    fine_reference: str | None
    claim: claims.ClaimView | None
    fine_status: str | None = None  # void: the fine was voided (e.g. on appeal)


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None  # None: this was the last page
    total: int  # events matching the filter (all pages)
    filter: QueueFilter = field(default_factory=QueueFilter)


# --- sort keys and cursors ----------------------------------------------------------------


def _sort_column(sort: str) -> tuple[Any, bool]:
    """(column, descending) of a sort order; ``id`` breaks ties in the same direction."""
    return {
        "oldest": (Event.occurred, False),
        "newest": (Event.occurred, True),
        "received": (Event.received, True),
        "score_high": (Event.match_score, True),
        "score_low": (Event.match_score, False),
        "decided": (Event.decided_at, True),
    }[sort]


def _is_time_sort(sort: str) -> bool:
    return sort in ("oldest", "newest", "received", "decided")


def encode_cursor(sort: str, value: datetime | float, pk: int) -> str:
    v = value.isoformat() if isinstance(value, datetime) else float(value)
    raw = json.dumps([sort, v, pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[datetime | float, int]:
    """The (sort value, id) a page starts after; ValueError naming ``cursor`` otherwise."""
    bad = "cursor: not a cursor this queue handed out"
    if len(cursor) > 200:
        raise ValueError(bad)
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        got_sort, v, pk = data
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ValueError(bad) from None
    if got_sort != sort:
        raise ValueError(f"cursor: made for sort {got_sort!r}, not {sort!r}; start again")
    if not isinstance(pk, int) or isinstance(pk, bool) or not 0 < pk < 2**63:
        raise ValueError(bad)
    if _is_time_sort(sort):
        if not isinstance(v, str):
            raise ValueError(bad)
        try:
            t = datetime.fromisoformat(v)
        except ValueError:
            raise ValueError(bad) from None
        return (t if t.tzinfo else t.replace(tzinfo=UTC)), pk
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(bad)
    return float(v), pk


# --- the query ----------------------------------------------------------------------------


def after_cursor(col: Any, desc: bool, v: datetime | float, pk: int) -> list[Any]:
    """Rows after (v, pk) in the sort order, written so an index on (status, col, id)
    gives a range scan on both backends: ``col >= v AND (col > v OR id > pk)`` (a row
    value ``(col, id) > (v, pk)`` made SQLite scan the index from its start: 10x slower
    at page 500 in bench_queue.py)."""
    lit = sa.literal(v, col.type)
    if desc:
        return [col <= lit, sa.or_(col < lit, Event.id < pk)]
    return [col >= lit, sa.or_(col > lit, Event.id > pk)]


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)


def _conditions(session: Session, f: QueueFilter) -> list[Any]:
    statuses = STATUS_GROUPS[f.status]
    cond: list[Any] = [
        Event.status == statuses[0] if len(statuses) == 1 else Event.status.in_(statuses)
    ]
    if f.device_id:
        cond.append(Event.device_id == f.device_id)
    if f.camera_id:
        cond.append(Event.camera_id == f.camera_id)
    if f.date_from:
        cond.append(Event.occurred >= _day_start(f.date_from))
    if f.date_to:
        cond.append(Event.occurred < _day_start(f.date_to) + timedelta(days=1))
    if f.matched == "matched":
        cond.append(Event.match_person_id.is_not(None))
    elif f.matched == "unidentified":
        cond.append(Event.match_person_id.is_(None))
    if f.score_min is not None:
        cond.append(Event.match_score >= f.score_min)
    if f.score_max is not None:
        cond.append(Event.match_score <= f.score_max)
    if f.altered == "yes":
        cond.append(Event.evidence_altered_at.is_not(None))
    elif f.altered == "no":
        cond.append(Event.evidence_altered_at.is_(None))
    if f.fine != "any":
        cond.append(Event.id.in_(fine_events(f.fine)))
    if f.sort in ("score_high", "score_low"):
        cond.append(Event.match_score.is_not(None))  # unidentified events have no score
    if f.sort == "decided":
        cond.append(Event.decided_at.is_not(None))
    if q := f.q.strip():
        cond.append(_search(q))
    return cond


def fine_events(fine: str) -> sa.Select[Any]:
    """The event ids whose fine has ``fine`` (a FINE_FILTERS value other than "any"); the
    dashboard counts its fine tiles with this same query."""
    if fine == "refunded":
        refunded = sa.select(PaymentAdjustment.fine_id).where(
            PaymentAdjustment.resolution == "refunded"
        )
        return sa.select(Fine.event_pk).where(Fine.id.in_(refunded))
    return sa.select(Fine.event_pk).where(Fine.status == fine)


def _search(q: str) -> Any:
    """An event id, a fine reference, a person id, or part of an enrolled person's name."""
    like = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    by_fine = sa.select(Fine.event_pk).where(Fine.reference == q.upper())
    by_person = sa.select(Person.id).where(
        sa.or_(Person.id == q, sa.func.lower(Person.name).like(like, escape="\\"))
    )
    return sa.or_(
        Event.event_id == q.lower(),
        Event.id.in_(by_fine),
        Event.match_person_id.in_(by_person),
    )


def waiting_count(session: Session) -> int:
    """Events waiting for a decision (first or second review): the event page's figure."""
    return status_counts.count(session, STATUS_GROUPS["pending_review"])


def list_queue(
    session: Session,
    actor: Actor,
    f: QueueFilter | None = None,
    cursor: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> QueuePage:
    """One keyset page of the queue (audited: a page shows which events were matched)."""
    require_role(actor, *QUEUE_ROLES)
    f = f or QueueFilter()
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit: expected 1 to {MAX_PAGE}, got {limit}")
    col, desc = _sort_column(f.sort)
    cond = _conditions(session, f)
    total = _total(session, f, cond)
    q = sa.select(Event).where(*cond)
    if cursor:
        q = q.where(*after_cursor(col, desc, *decode_cursor(cursor, f.sort)))
    order = (col.desc(), Event.id.desc()) if desc else (col.asc(), Event.id.asc())
    events = list(session.execute(q.order_by(*order).limit(limit + 1)).scalars())
    more = len(events) > limit
    events = events[:limit]
    rows = _rows(session, events, now)
    nxt = None
    if more and events:
        last = events[-1]
        nxt = encode_cursor(f.sort, getattr(last, col.key), last.id)
    audit.record(
        session, actor.label, "review.list", "events",
        {"events": [r.event_id for r in rows], "filter": f.params(), "cursor": bool(cursor)},
    )  # fmt: skip
    return QueuePage(rows=rows, next_cursor=nxt, total=int(total), filter=f)


# The filter fields that narrow a page beyond its status (sort is not one of them).
_NARROWING = tuple(k for k in vars(QueueFilter()) if k not in ("status", "sort"))
# The sorts that leave out rows without their sort value: (column, index-backed count).
_SORT_NOT_NULL = {
    "score_high": Event.match_score,
    "score_low": Event.match_score,
    "decided": Event.decided_at,
}


def _total(session: Session, f: QueueFilter, cond: list[Any]) -> int:
    """The exact number of events the filter matches. A page filtered by status alone
    (the waiting queue, the history, unidentified: what reviewers open all day) reads
    the database's per-status counts (central/store/status_counts.py) instead of
    counting every waiting event; a score or decision sort subtracts the few rows
    without that value (a range of the queue_0001 index (status, column, id)). Any
    other filter counts its own rows, which its indexes narrow."""
    default = QueueFilter()
    if any(getattr(f, k) != getattr(default, k) for k in _NARROWING):
        return int(
            session.execute(sa.select(sa.func.count()).select_from(Event).where(*cond)).scalar_one()
        )
    statuses = [str(x) for x in STATUS_GROUPS[f.status]]
    total = status_counts.count_and_tidy(session, statuses)
    col = _SORT_NOT_NULL.get(f.sort)
    if col is not None:
        total -= int(
            session.execute(
                sa.select(sa.func.count())
                .select_from(Event)
                .where(Event.status.in_(statuses), col.is_(None))
            ).scalar_one()
        )
    return total


def _rows(session: Session, events: list[Event], now: datetime | None) -> list[QueueRow]:
    pks = [e.id for e in events]
    held = claims.live_claims(session, pks, now)
    fine_q = sa.select(Fine.event_pk, Fine.reference, Fine.status).where(Fine.event_pk.in_(pks))
    fine_rows = session.execute(fine_q).all() if pks else []
    fines = {pk: ref for pk, ref, _ in fine_rows}
    fine_status = {pk: st for pk, _, st in fine_rows}
    user_ids = {e.decided_by for e in events if e.decided_by is not None}
    names = dict(
        session.execute(sa.select(User.id, User.username).where(User.id.in_(user_ids))).all()
    ) if user_ids else {}  # fmt: skip
    places = _places(session, {e.device_id for e in events})
    out = []
    for e in events:
        signal = e.payload.get("signal") if isinstance(e.payload, dict) else None
        red = signal.get("red_for_s") if isinstance(signal, dict) else None
        out.append(
            QueueRow(
                pk=e.id,
                event_id=e.event_id,
                device_id=e.device_id,
                camera_id=e.camera_id,
                place=places.get((e.device_id, e.camera_id)) or places.get((e.device_id, "")) or "",
                occurred=e.occurred,
                received=e.received,
                offence_code=e.offence_code,
                status=e.status,
                reason_code=e.reason_code,
                matched=e.match_person_id is not None,
                match_person_id=e.match_person_id,
                match_score=e.match_score,
                red_for_s=float(red) if isinstance(red, int | float) else None,
                evidence_altered=e.evidence_altered_at is not None,
                decided_by=names.get(e.decided_by) if e.decided_by is not None else None,
                decided_at=e.decided_at,
                fine_reference=fines.get(e.id),
                fine_status=fine_status.get(e.id),
                claim=held.get(e.id),
            )
        )
    return out


def _places(session: Session, device_ids: set[str]) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    if not device_ids:
        return out
    for d in session.execute(sa.select(Device).where(Device.id.in_(device_ids))).scalars():
        out[(d.id, "")] = d.place
        for cam in d.cameras or []:
            if isinstance(cam, dict) and cam.get("camera_id") and cam.get("place"):
                out[(d.id, str(cam["camera_id"]))] = str(cam["place"])
    return out


@dataclass(frozen=True)
class Camera:
    device_id: str
    camera_id: str
    place: str


def cameras(session: Session) -> list[Camera]:
    """Every registered camera (the filter's choices)."""
    out = []
    for d in session.execute(sa.select(Device).order_by(Device.id)).scalars():
        for cam in d.cameras or []:
            if isinstance(cam, dict) and cam.get("camera_id"):
                out.append(Camera(d.id, str(cam["camera_id"]), str(cam.get("place") or d.place)))
    return out


def next_case(session: Session, actor: Actor, now: datetime | None = None) -> str | None:
    """Claim the oldest waiting case nobody else holds and return its event id (None:
    nothing left for this operator). Claimed inside this call, so two operators pressing
    "next" at once get different cases."""
    require_role(actor, *claims.CLAIM_ROLES)
    now = now or utcnow()
    for _ in range(20):  # each round skips cases others claimed meanwhile
        held = sa.select(claims.CaseClaim.event_pk).where(
            claims.CaseClaim.expires > now, claims.CaseClaim.holder != actor.label
        )
        eid = session.execute(
            sa.select(Event.event_id)
            .where(
                Event.status.in_((EventStatus.pending_review, EventStatus.second_review)),
                Event.id.not_in(held),
                # not a case awaiting its second reviewer after this one's confirmation
                ~review.own_first_confirmation(actor),
            )
            .order_by(Event.occurred, Event.id)
            .limit(1)
        ).scalar()
        if eid is None:
            return None
        try:
            with session.begin_nested():
                claims.claim(session, actor, eid, now)
            return eid
        except claims.Claimed:
            continue
    return None


def changes(session: Session, now: datetime | None = None) -> tuple[Any, ...]:
    """A cheap fingerprint of everything a queue page shows (new events, decisions,
    claims): the live refresh sends an update when it changes."""
    now = now or utcnow()
    n_waiting = waiting_count(session)  # the trigger-kept count, not COUNT(*) each second
    decided = session.execute(sa.select(sa.func.max(Event.decided_at))).scalar()
    cc = claims.CaseClaim
    cl = session.execute(
        sa.select(sa.func.count(), sa.func.max(cc.claimed_at), sa.func.sum(cc.event_pk)).where(
            cc.expires > now
        )
    ).one()
    top = session.execute(sa.select(sa.func.max(Event.id))).scalar()
    return (top, n_waiting, str(decided), cl[0], str(cl[1]), cl[2])


# --- unidentified violations --------------------------------------------------------------


@dataclass(frozen=True)
class UnidentifiedStats:
    """Counts only: no image, no face, no person — nobody is identified after the fact."""

    total: int
    oldest: datetime | None
    newest: datetime | None
    altered: int
    by_camera: list[tuple[str, str, int]]  # (device_id, camera_id, count)
    by_day: list[tuple[date, int]]  # newest first, at most 31 days
    dismissed: int  # unidentified violations dismissed so far


def unidentified_stats(
    session: Session, actor: Actor, f: QueueFilter | None = None
) -> UnidentifiedStats:
    require_role(actor, *QUEUE_ROLES)
    f = replace(f or QueueFilter(), status="unidentified", q="", matched="any", sort="oldest")
    cond = _conditions(session, f)
    total, oldest, newest, altered = session.execute(
        sa.select(
            sa.func.count(Event.id),
            sa.func.min(Event.occurred),
            sa.func.max(Event.occurred),
            sa.func.count(Event.evidence_altered_at),
        ).where(*cond)
    ).one()
    by_camera = [
        (d, c, int(n))
        for d, c, n in session.execute(
            sa.select(Event.device_id, Event.camera_id, sa.func.count(Event.id))
            .where(*cond)
            .group_by(Event.device_id, Event.camera_id)
            .order_by(sa.func.count(Event.id).desc(), Event.device_id, Event.camera_id)
        ).all()
    ]
    by_day: list[tuple[date, int]] = []
    if newest is not None:
        day = sa.func.date(Event.occurred)
        for d, n in session.execute(
            sa.select(day, sa.func.count(Event.id))
            .where(*cond)
            .group_by(day)
            .order_by(day.desc())
            .limit(31)
        ).all():
            by_day.append((d if isinstance(d, date) else date.fromisoformat(str(d)), int(n)))
    dismissed = session.execute(
        sa.select(sa.func.count(Event.id)).where(
            Event.status == EventStatus.dismissed, Event.match_person_id.is_(None)
        )
    ).scalar_one()
    return UnidentifiedStats(
        total=int(total), oldest=oldest, newest=newest, altered=int(altered),
        by_camera=by_camera, by_day=by_day, dismissed=int(dismissed),
    )  # fmt: skip


@dataclass(frozen=True)
class BulkResult:
    dismissed: int
    remaining: int  # still matching the filter (more than MAX_BULK at once)


def dismiss_unidentified(
    session: Session,
    actor: Actor,
    reason: str,
    note: str,
    f: QueueFilter | None = None,
    now: datetime | None = None,
) -> BulkResult:
    """Dismiss the unidentified violations the filter selects (camera, site, dates), up
    to MAX_BULK at once, with one reason; one audit entry names the reason, the note, the
    filter and every event. Never links a person: these stay unidentified."""
    require_role(actor, *BULK_ROLES)
    if reason not in UNIDENTIFIED_REASONS:
        raise ValueError(f"reason: expected one of {list(UNIDENTIFIED_REASONS)}, got {reason!r}")
    note = note.strip()
    if len(note) > 500:
        raise ValueError("note: at most 500 characters")
    if reason == "other" and not note:
        raise ValueError("note: say why when the reason is 'other'")
    now = now or utcnow()
    f = replace(
        f or QueueFilter(), status="unidentified", q="", matched="unidentified", sort="oldest"
    )
    cond = _conditions(session, f)
    pick = sa.select(Event.id, Event.event_id).where(*cond)
    pks_ids = session.execute(
        pick.order_by(Event.occurred, Event.id).limit(MAX_BULK).with_for_update()
    ).all()
    pks = [pk for pk, _ in pks_ids]
    if pks:
        session.execute(
            sa.update(Event)
            .where(Event.id.in_(pks), Event.status == EventStatus.unidentified)
            .values(
                status=EventStatus.dismissed,
                reason_code=reason,
                decided_by=actor.user_id,
                decided_at=now,
            )
        )
        audit.record(
            session, actor.label, "event.bulk_dismiss", "events",
            {"reason": reason, "note": note, "filter": f.params(), "count": len(pks),
             "events": [eid for _, eid in pks_ids]},
        )  # fmt: skip
    remaining = session.execute(sa.select(sa.func.count(Event.id)).where(*cond)).scalar_one()
    return BulkResult(dismissed=len(pks), remaining=int(remaining))


def parse_filter(params: dict[str, str]) -> QueueFilter:
    """A filter from query-string values (a web form sends every field, empty when
    unused); ValueError names the field and what it expects."""

    def get(name: str) -> str:
        return (params.get(name) or "").strip()

    def day(name: str) -> date | None:
        v = get(name)
        try:
            return date.fromisoformat(v) if v else None
        except ValueError:
            raise ValueError(f"{name}: expected a date YYYY-MM-DD, got {v[:40]!r}") from None

    def number(name: str) -> float | None:
        v = get(name)
        try:
            return float(v) if v else None
        except ValueError:
            raise ValueError(f"{name}: expected a number, got {v[:40]!r}") from None

    camera = get("camera")  # "device/camera", as the form's choices are
    device_id, camera_id = [*camera.split("/", 1), ""][:2] if camera else ("", "")
    site = get("site")
    if site and device_id and site != device_id:
        raise ValueError(f"camera: {camera!r} is not at site {site!r}")
    return QueueFilter(
        status=get("status") or "pending_review",
        device_id=(device_id or site)[:64] or None,
        camera_id=camera_id[:64] or None,
        date_from=day("date_from"),
        date_to=day("date_to"),
        matched=get("matched") or "any",  # type: ignore[arg-type]
        score_min=number("score_min"),
        score_max=number("score_max"),
        altered=get("altered") or "any",  # type: ignore[arg-type]
        fine=get("fine") or "any",
        q=get("q"),
        sort=get("sort") or "oldest",
    )
