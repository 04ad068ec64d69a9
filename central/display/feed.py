"""What one screen shows: recent confirmed infractions at its place, counters, the rule.

A screen id is the id of the gateway at that intersection: the screen shows what that
gateway's cameras caught. Everything here is anonymised by construction — the rows are
built from ``DisplayEntry`` (place, time, offence, fine text) and aggregate counts;
no column of ``Person`` is ever selected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from central.fines import FineSchedule, format_money
from central.store.models import Device, DisplayEntry, Event, Evidence, Fine, utcnow
from central.store.status import FineStatus
from jaywatch.wire import DisplayItem

SHOWN_ROLES = ("entry", "before", "after")  # never the "face" crop
MAX_ITEMS = 12


class Counters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    today: int
    week: int


class ScreenFeed(BaseModel):
    """The payload of one SSE message and of the retained MQTT display message."""

    model_config = ConfigDict(extra="forbid")
    screen_id: str
    place: str
    items: list[DisplayItem]
    withdrawn: list[str]  # item ids withdrawn in the last day: a sign removes them
    counters: Counters
    rule: str
    generated: datetime

    def content_key(self) -> str:
        """What decides whether screens need an update (everything but the timestamp)."""
        return json.dumps(self.model_dump(mode="json", exclude={"generated"}), sort_keys=True)


class UnknownScreen(LookupError):
    pass


def rule_text(schedule: FineSchedule) -> str:
    """The rule in one sentence per offence, from the fine schedule itself."""
    parts = []
    for off in schedule.offences.values():
        pts = f" and {off.points} penalty point{'s' if off.points != 1 else ''}"
        money = format_money(int(off.amount * 100), schedule.currency)
        parts.append(f"{off.description}: {money} fine{pts if off.points else ''}.")
    parts.append("Wait for the green signal. Every case is checked by an officer.")
    return " ".join(parts)


def screen_place(session: Session, screen_id: str) -> str:
    dev = session.get(Device, screen_id)
    if dev is None:
        raise UnknownScreen(screen_id)
    return dev.place or screen_id


def all_screens(session: Session) -> list[str]:
    return list(session.execute(sa.select(Device.id).where(Device.disabled.is_(False))).scalars())


def image_url(screen_id: str, item_id: str) -> str:
    return f"/display/{screen_id}/image/{item_id}.jpg"


def _day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def build_feed(
    session: Session, schedule: FineSchedule, screen_id: str, now: datetime | None = None
) -> ScreenFeed:
    now = now or utcnow()
    place = screen_place(session, screen_id)
    rows = session.execute(
        sa.select(DisplayEntry, Event.id)
        .join(Fine, Fine.id == DisplayEntry.fine_id)
        .join(Event, Event.id == Fine.event_pk)
        .where(Event.device_id == screen_id)
        .where(
            sa.or_(
                DisplayEntry.withdrawn_at.is_(None),
                DisplayEntry.withdrawn_at > now - timedelta(days=1),
            )
        )
        .order_by(DisplayEntry.occurred.desc())
        .limit(MAX_ITEMS * 4)
    ).all()
    with_image = set(
        session.execute(
            sa.select(Evidence.event_pk).where(
                Evidence.event_pk.in_([pk for _, pk in rows]), Evidence.role.in_(SHOWN_ROLES)
            )
        ).scalars()
    )
    items, withdrawn = [], []
    for r, pk in rows:
        if r.withdrawn_at is not None:
            withdrawn.append(r.item_id)
        elif len(items) < MAX_ITEMS:
            items.append(
                DisplayItem(
                    item_id=r.item_id,
                    place=r.place,
                    occurred=r.occurred,
                    offence=r.offence,
                    fine=r.fine_text,
                    image_url=image_url(screen_id, r.item_id) if pk in with_image else None,
                )
            )

    def count(since: datetime) -> int:
        return int(
            session.execute(
                sa.select(sa.func.count(Fine.id))
                .join(Event, Event.id == Fine.event_pk)
                .where(
                    Event.device_id == screen_id,
                    Fine.status != FineStatus.void,
                    Fine.occurred >= since,
                )
            ).scalar_one()
        )

    day = _day_start(now)
    return ScreenFeed(
        screen_id=screen_id,
        place=place,
        items=items,
        withdrawn=sorted(withdrawn),
        counters=Counters(today=count(day), week=count(day - timedelta(days=6))),
        rule=rule_text(schedule),
        generated=now,
    )


@dataclass(frozen=True)
class ScreenImage:
    jpeg: bytes
    # As the device sent it (any JSON, or None): central/display/blur.py decides whether
    # it plausibly frames the person and otherwise blurs the whole frame.
    bbox: object


def screen_image_source(
    session: Session, screen_id: str, item_id: str, load: Any
) -> ScreenImage | None:
    """The raw evidence frame behind a live (not withdrawn) item at this screen, with the
    person's box; ``None`` when the item is unknown, elsewhere or withdrawn.

    ``load(sha256) -> bytes`` reads the evidence store. The caller must blur before
    sending anything to a screen.
    """
    row = session.execute(
        sa.select(Event.id, Event.payload)
        .join(Fine, Fine.event_pk == Event.id)
        .join(DisplayEntry, DisplayEntry.fine_id == Fine.id)
        .where(
            DisplayEntry.item_id == item_id,
            DisplayEntry.withdrawn_at.is_(None),
            Event.device_id == screen_id,
        )
    ).first()
    if row is None:
        return None
    pk, payload = row
    ev = session.execute(
        sa.select(Evidence.role, Evidence.sha256)
        .where(Evidence.event_pk == pk, Evidence.role.in_(SHOWN_ROLES))
        .order_by(Evidence.position)
    ).all()
    if not ev:
        return None
    by_role = dict(reversed(ev))  # first of each role
    sha = by_role.get("entry") or ev[0][1]
    bbox = payload.get("bbox") if isinstance(payload, dict) else None
    if by_role.get("entry") is None:
        # Other frames show the person elsewhere: without the entry frame's box, blur all.
        bbox = None
    return ScreenImage(jpeg=load(sha), bbox=bbox)
