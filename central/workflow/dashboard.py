"""The dashboard's numbers for a period and a camera: tiles, a timeline, per-camera
counts, the match-score distribution and per-operator workload.

One function per figure, called by the console page (central/web/dashboard.py) and the
API (central/api/dashboard.py) alike. Aggregated in the database (GROUP BY on plain
columns, portable between SQLite and PostgreSQL) or over rows bounded by the period, so
a chart costs the same with 1 event and with 100,000: what reaches the page is one
number per bin, never one element per event.

"Confirmed" counts standing fines only: an event stays ``confirmed`` after its fine was
voided (an appeal upheld), and a voided fine is counted as voided, not as confirmed.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.auth.roles import Permission, may
from central.store.models import Appeal, Event, Fine, ReviewConfirmation, User, utcnow
from central.store.status import APPEAL_OPEN, ConfirmationStage, EventStatus, FineStatus
from central.workflow import queue as wq
from central.workflow.common import Actor, require_role

VIEW_ROLES = ("operator", "supervisor", "auditor", "admin")
# Per-operator figures are about named staff: for those who supervise or audit them.
WORKLOAD_ROLES = ("supervisor", "auditor", "admin")
QUARANTINE_VIEW_ROLES = ("admin",)
MAX_DAYS = 366
DEFAULT_DAYS = 7
STANDING_FINE = (FineStatus.issued, FineStatus.paid)  # a fine that still stands (not void)


@dataclass(frozen=True)
class Period:
    """``start`` inclusive, ``end`` exclusive (UTC midnights); ``camera`` is
    ``device/camera`` or None for all."""

    start: datetime
    end: datetime
    camera: str | None = None

    @property
    def days(self) -> int:
        return max(1, round((self.end - self.start) / timedelta(days=1)))

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()

    def query(self, **extra: str) -> str:
        """This period as the dashboard's own query (``from``/``to``, inclusive)."""
        q = {"from": self.first_day.isoformat(), "to": self.last_day.isoformat()}
        if self.camera:
            q["camera"] = self.camera
        q.update({k: v for k, v in extra.items() if v})
        return urlencode(q)

    def list_query(self, **extra: str) -> str:
        """This period as the queue's filters (central/workflow/queue.py parse_filter:
        ``date_from``/``date_to`` inclusive UTC days by time of offence, ``camera``
        DEVICE/CAMERA, ``status``, ``score_min``/``score_max``)."""
        q = {"date_from": self.first_day.isoformat(), "date_to": self.last_day.isoformat()}
        if self.camera:
            q["camera"] = self.camera
        q.update({k: v for k, v in extra.items() if v})
        return urlencode(q)


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{name}: expected a date YYYY-MM-DD, got {text[:40]!r}") from None


def parse_period(
    from_: str | None, to: str | None, camera: str | None = None, now: datetime | None = None
) -> Period:
    """The period a user asked for: whole UTC days ``from``..``to`` (both inclusive);
    missing ends default to the last 7 days up to today. ValueError names the field."""
    today = (now or utcnow()).astimezone(UTC).date()
    last = _day(to, "to") if to else today
    first = _day(from_, "from") if from_ else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ValueError(f"from: {first} is after to: {last}")
    if (last - first).days + 1 > MAX_DAYS:
        raise ValueError(f"from..to: at most {MAX_DAYS} days, got {(last - first).days + 1}")
    cam = (camera or "").strip() or None
    if cam is not None and (len(cam) > 129 or cam.count("/") != 1):
        raise ValueError(f"camera: expected DEVICE/CAMERA, got {cam[:40]!r}")
    start = datetime.combine(first, time(), UTC)
    return Period(start, datetime.combine(last + timedelta(days=1), time(), UTC), cam)


def _camera_filter(q: sa.Select, period: Period) -> sa.Select:
    if period.camera is None:
        return q
    device, cam = period.camera.split("/", 1)
    return q.where(Event.device_id == device, Event.camera_id == cam)


def _in_period(q: sa.Select, period: Period) -> sa.Select:
    q = q.where(Event.occurred >= period.start, Event.occurred < period.end)
    return _camera_filter(q, period)


def cameras(session: Session) -> list[str]:
    """Every ``device/camera`` that sent an event, for the camera picker."""
    rows = session.execute(
        sa.select(Event.device_id, Event.camera_id).distinct().order_by(Event.device_id)
    ).all()
    return sorted(f"{d}/{c}" for d, c in rows)


# --- tiles -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    count: int
    href: str
    scope: str = ""  # e.g. "all dates" for the figures that are about now


def may_open(actor: Actor, href: str) -> bool:
    """Whether ``actor`` may open a drill-down list (per central/auth/roles.py GRANTS): the
    queue and its history are for those granted ``review_queue`` (operators, supervisors),
    the appeals list for those who decide appeals. Auditors and admins see the counts and
    export the CSVs, without a link that would answer 403."""
    if href.startswith(("/console/queue", "/console/unidentified")):
        return actor.role in wq.QUEUE_ROLES
    if href.startswith("/console/appeals"):
        return may(actor.role, Permission.appeal_decide)
    return True


def tiles(session: Session, actor: Actor, period: Period) -> list[Tile]:
    """The headline counts, each with the list it stands for."""
    require_role(actor, *VIEW_ROLES)
    by_status = dict(
        session.execute(
            _in_period(sa.select(Event.status, sa.func.count(Event.id)), period).group_by(
                Event.status
            )
        ).all()
    )
    fines = dict(
        session.execute(
            _in_period(
                sa.select(Fine.status, sa.func.count(Fine.id)).join(
                    Event, Event.id == Fine.event_pk
                ),
                period,
            ).group_by(Fine.status)
        ).all()
    )
    # Now, all dates: what waits for a first or a second reviewer (the queue's
    # "pending_review" group holds both), and confirmations still in their undo window.
    now_counts = dict(
        session.execute(
            _camera_filter(
                sa.select(Event.status, sa.func.count(Event.id))
                .where(
                    Event.status.in_(
                        (EventStatus.pending_review, EventStatus.second_review,
                         EventStatus.confirming)
                    )
                )
                .group_by(Event.status),
                period,
            )
        ).all()
    )  # fmt: skip
    second = int(now_counts.get(EventStatus.second_review, 0))
    waiting = int(now_counts.get(EventStatus.pending_review, 0)) + second
    appeals_q = (
        sa.select(sa.func.count(Appeal.id))
        .join(Fine, Fine.id == Appeal.fine_id)
        .join(Event, Event.id == Fine.event_pk)
        .where(Appeal.status.in_(APPEAL_OPEN))
    )
    appeals = session.execute(_camera_filter(appeals_q, period)).scalar_one()
    # Refunds are settlements of a payment, not a fine status: counted with the query
    # the queue's ``fine=refunded`` list uses, so the tile and its list agree.
    refunded = session.execute(
        _in_period(
            sa.select(sa.func.count(Event.id)).where(Event.id.in_(wq.fine_events("refunded"))),
            period,
        )
    ).scalar_one()
    cam = {"camera": period.camera} if period.camera else {}
    # Waiting and decided cases: the queue (history = decided statuses); unidentified:
    # their own list; fine tiles: the confirmed cases with that fine (queue ``fine=``).
    q, h, u = "/console/queue?", "/console/queue?", "/console/unidentified?"
    standing = sum(int(fines.get(s, 0)) for s in STANDING_FINE)
    out = [
        Tile("waiting", "waiting for review", int(waiting),
             q + urlencode({"status": "pending_review", **cam}), "all dates"),
        Tile("second_review", "awaiting a second reviewer", second,
             q + urlencode({"status": "second_review", **cam}), "all dates"),
        Tile("confirming", "confirmed, undo window running",
             int(now_counts.get(EventStatus.confirming, 0)),
             q + urlencode({"status": "confirming", **cam}), "all dates"),
        Tile("unidentified", "unidentified (statistics only)",
             int(by_status.get("unidentified", 0)), u + period.list_query()),
        Tile("confirmed", "confirmed (fine standing)", standing,
             h + period.list_query(status="confirmed")),
        Tile("dismissed", "rejected at review", int(by_status.get("dismissed", 0)),
             h + period.list_query(status="dismissed")),
        Tile("paid", "fines paid", int(fines.get("paid", 0)),
             h + period.list_query(status="confirmed", fine="paid")),
        Tile("voided", "fines voided", int(fines.get("void", 0)),
             h + period.list_query(status="confirmed", fine="void")),
        Tile("refunded", "fines refunded", int(refunded),
             h + period.list_query(status="confirmed", fine="refunded")),
        Tile("appeals", "appeals open", int(appeals), "/console/appeals", "all dates"),
    ]  # fmt: skip
    out = [replace(t, href="") if not may_open(actor, t.href) else t for t in out]
    if actor.role in QUARANTINE_VIEW_ROLES:
        out.append(
            Tile("quarantined", "quarantined (time implausible)",
                 int(by_status.get("quarantined", 0)), "/console/dead-letters#quarantine")
        )  # fmt: skip
    return out


# --- timeline ----------------------------------------------------------------------------

TIMELINE_STATUSES = (
    EventStatus.confirmed,
    EventStatus.dismissed,
    EventStatus.pending_review,
    EventStatus.unidentified,
)


@dataclass(frozen=True)
class Bin:
    start: datetime
    end: datetime
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Timeline:
    step: timedelta
    bins: list[Bin]
    statuses: tuple[str, ...] = TIMELINE_STATUSES

    @property
    def unit(self) -> str:
        return {3600: "hour", 86400: "day"}.get(int(self.step.total_seconds()), "week")


def step_for(period: Period) -> timedelta:
    """Bins a person can read: hours for up to 2 days, days up to ~3 months, else weeks
    (at most ~90 bars, whatever the number of events)."""
    if period.days <= 2:
        return timedelta(hours=1)
    if period.days <= 92:
        return timedelta(days=1)
    return timedelta(days=7)


def timeline(session: Session, actor: Actor, period: Period) -> Timeline:
    """Events per bin by time of the offence and by outcome (voided fines excluded from
    confirmed). Rows are fetched as (time, status) pairs of the period only."""
    require_role(actor, *VIEW_ROLES)
    step = step_for(period)
    n = -(-(period.end - period.start) // step)
    bins = [
        Bin(period.start + i * step, min(period.start + (i + 1) * step, period.end), {})
        for i in range(n)
    ]
    q = _in_period(
        sa.select(Event.occurred, Event.status, Fine.status)
        .outerjoin(Fine, Fine.event_pk == Event.id)
        .where(Event.status.in_(TIMELINE_STATUSES)),
        period,
    )
    for occurred, status, fine_status in session.execute(q).yield_per(5000):
        if status == EventStatus.confirmed and fine_status not in STANDING_FINE:
            continue  # voided (or no fine): not a standing confirmation
        i = int((occurred - period.start) // step)
        if 0 <= i < n:
            bins[i].counts[status] = bins[i].counts.get(status, 0) + 1
    return Timeline(step, bins)


# --- per camera --------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraRow:
    camera: str
    counts: dict[str, int]

    @property
    def reviewed(self) -> int:
        return self.counts.get("confirmed", 0) + self.counts.get("dismissed", 0)

    @property
    def rejected_share(self) -> float | None:
        return self.counts.get("dismissed", 0) / self.reviewed if self.reviewed else None


def per_camera(session: Session, actor: Actor, period: Period) -> list[CameraRow]:
    require_role(actor, *VIEW_ROLES)
    q = _in_period(
        sa.select(
            Event.device_id, Event.camera_id, Event.status, Fine.status, sa.func.count(Event.id)
        )
        .outerjoin(Fine, Fine.event_pk == Event.id)
        .where(Event.status.in_(TIMELINE_STATUSES)),
        period,
    ).group_by(Event.device_id, Event.camera_id, Event.status, Fine.status)  # fmt: skip
    rows: dict[str, dict[str, int]] = defaultdict(dict)
    for d, c, status, fine_status, n in session.execute(q).all():
        if status == EventStatus.confirmed and fine_status not in STANDING_FINE:
            status = "voided"
        counts = rows[f"{d}/{c}"]
        counts[status] = counts.get(status, 0) + int(n)
    return [CameraRow(cam, counts) for cam, counts in sorted(rows.items())]


# --- match scores ------------------------------------------------------------------------

SCORE_BIN = 0.05


@dataclass(frozen=True)
class ScoreBin:
    lo: float
    hi: float
    counts: dict[str, int]

    @property
    def label(self) -> str:
        return f"{self.lo:.2f}–{self.hi:.2f}"


def score_histogram(session: Session, actor: Actor, period: Period) -> list[ScoreBin]:
    """Match scores of matched events by outcome, in fixed bins of 0.05 covering the
    scores present (one bin when they are all alike: never an axis of 1e-6 steps)."""
    require_role(actor, *VIEW_ROLES)
    # Binned here, not in SQL: PostgreSQL's integer cast rounds, SQLite's truncates,
    # and SQLite may lack floor(). The epsilon keeps 0.70 in 0.70–0.75.
    q = _in_period(
        sa.select(Event.match_score, Event.status).where(
            Event.match_score.is_not(None),
            Event.status.in_(
                (EventStatus.confirmed, EventStatus.dismissed, EventStatus.pending_review)
            ),
        ),
        period,
    )
    cells: dict[int, dict[str, int]] = defaultdict(dict)
    for score, status in session.execute(q).yield_per(5000):
        b = math.floor(float(score) / SCORE_BIN + 1e-9)
        cells[b][status] = cells[b].get(status, 0) + 1
    if not cells:
        return []
    lo, hi = min(cells), max(cells)
    return [
        ScoreBin(round(i * SCORE_BIN, 2), round((i + 1) * SCORE_BIN, 2), cells.get(i, {}))
        for i in range(lo, hi + 1)
    ]


# --- per-operator workload ---------------------------------------------------------------


@dataclass
class OperatorLoad:
    username: str
    decisions: int = 0
    confirmed: int = 0
    dismissed: int = 0
    per_day: dict[date, int] = field(default_factory=dict)
    median_decide_s: float | None = None
    # Four-eyes: this operator's first confirmations that a second reviewer has decided,
    # and how many of those the second reviewer rejected.
    second_reviewed: int = 0
    second_rejected: int = 0

    @property
    def disagreement(self) -> float | None:
        return self.second_rejected / self.second_reviewed if self.second_reviewed else None

    def decisions_per_day(self, days: int) -> float:
        return self.decisions / max(1, days)


def workload(session: Session, actor: Actor, period: Period) -> list[OperatorLoad]:
    """Per operator: decisions in the period (by time of decision), per day, and the
    median time from receipt to decision."""
    require_role(actor, *WORKLOAD_ROLES)
    q = _camera_filter(
        sa.select(User.username, Event.status, Event.received, Event.decided_at)
        .join(User, User.id == Event.decided_by)
        .where(Event.decided_at >= period.start, Event.decided_at < period.end),
        period,
    )
    loads: dict[str, OperatorLoad] = {}
    waits: dict[str, list[float]] = defaultdict(list)
    for name, status, received, decided in session.execute(q).yield_per(5000):
        o = loads.setdefault(name, OperatorLoad(name))
        o.decisions += 1
        if status == "confirmed":
            o.confirmed += 1
        elif status == "dismissed":
            o.dismissed += 1
        d = decided.date()
        o.per_day[d] = o.per_day.get(d, 0) + 1
        waits[name].append(max(0.0, (decided - received).total_seconds()))
    for name, o in loads.items():
        o.median_decide_s = statistics.median(waits[name]) if waits[name] else None
    firsts = _camera_filter(
        sa.select(User.username, Event.status)
        .select_from(ReviewConfirmation)
        .join(Event, Event.id == ReviewConfirmation.event_pk)
        .join(User, User.id == ReviewConfirmation.user_id)
        .where(
            ReviewConfirmation.stage == ConfirmationStage.first,
            ReviewConfirmation.at >= period.start,
            ReviewConfirmation.at < period.end,
            Event.status.in_((EventStatus.confirmed, EventStatus.dismissed)),
        ),
        period,
    )
    for name, status in session.execute(firsts).all():
        o = loads.setdefault(name, OperatorLoad(name))
        o.second_reviewed += 1
        o.second_rejected += int(status == EventStatus.dismissed)
    return sorted(loads.values(), key=lambda o: (-o.decisions, o.username))
