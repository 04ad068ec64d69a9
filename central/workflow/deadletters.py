"""Dead letters and quarantined events, for admins: look, requeue or release, discard.
Every action is audited; the console page (central/web/deadletters.py) and the API
(central/api/deadletters.py) both call these functions.

Requeue runs the stored bytes through ingest's own classify + store again, with the
device keys of now (a gateway registered or re-keyed since is accepted) and the
occurred window judged against the time the message first arrived (waiting in the
dead letters does not make an event implausible). Only a dead letter whose bytes were
all kept can be requeued: by default a whole payload is kept up to
``ingest.max_payload_bytes`` (what ingest reads at all), and all dead letters together
keep at most ``ingest.dead_letters_max_total_bytes`` — the oldest are cut to 4 KiB
beyond that (central/ingest/store.py ``evict_dead_letters``, audited), and
``retention.dead_letters_days`` deletes the rows. The gateway is not sent an ack for a
requeued message (it was told "rejected" at the time). A coalesced row (a topic past
``ingest.dead_letters_per_topic``, or folded by the total cap) stands for many messages
and keeps a sample of one: it cannot be requeued (409), only discarded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central import audit
from central.context import Context
from central.ingest.classify import Incoming, KeyCache, OccurredWindow, Rejected, classify
from central.ingest.store import EVICTED_KEEP, OVERSIZE_HEAD, load_device_keys, store_batch
from central.store.models import DeadLetter, Event, Person
from central.store.status import EventStatus
from central.workflow.common import Actor, Conflict, NotFound, require_role

LIST_ROLES = ("admin", "auditor")
ACT_ROLES = ("admin",)
PREVIEW_BYTES = 512


@dataclass(frozen=True)
class DeadLetterView:
    id: int
    received: object  # a coalesced row: the first of its messages
    topic: str
    reason: str  # a coalesced row: its first message's
    size: int
    kept: int
    sha256: str
    preview: str  # first bytes, undecodable ones replaced: escape before showing
    messages: int = 1  # how many distinct bad messages the row stands for
    last_received: object = None  # a coalesced row: the latest of its messages
    group: str | None = None  # a coalesced row: its kind of reason (before the colon)

    @property
    def coalesced(self) -> bool:
        return self.group is not None

    @property
    def complete(self) -> bool:
        return self.kept == self.size and not self.coalesced

    @property
    def device_id(self) -> str | None:
        """The device whose topic it came on (the broker's ACL lets only it publish there)."""
        parts = self.topic.split("/")
        return parts[2] if len(parts) == 4 and parts[0] == "jaywatch" else None


def _view(r: DeadLetter) -> DeadLetterView:
    raw = bytes(r.raw)
    return DeadLetterView(
        r.id, r.received, r.topic, r.reason, r.size, len(raw), r.sha256,
        raw[:PREVIEW_BYTES].decode("utf-8", "replace"), r.messages,
        r.last_received, r.group_key,
    )  # fmt: skip


def list_dead_letters(session: Session, actor: Actor, limit: int = 100) -> list[DeadLetterView]:
    """Coalesced rows first (the floods: most recently seen first), then the others
    newest first, ``limit`` in all; audited (a payload may hold personal data)."""
    require_role(actor, *LIST_ROLES)
    last = sa.func.coalesce(DeadLetter.last_received, DeadLetter.received)
    groups = list(
        session.execute(
            sa.select(DeadLetter)
            .where(DeadLetter.group_key.is_not(None))
            .order_by(last.desc(), DeadLetter.id.desc())
            .limit(limit)
        ).scalars()
    )
    rows = groups + list(
        session.execute(
            sa.select(DeadLetter)
            .where(DeadLetter.group_key.is_(None))
            .order_by(DeadLetter.id.desc())
            .limit(limit - len(groups))
        ).scalars()
        if len(groups) < limit
        else []
    )
    views = [_view(r) for r in rows]
    audit.record(
        session, actor.label, "dead_letters.read", "dead_letters", {"ids": [v.id for v in views]}
    )
    return views


def _dead_letter(session: Session, dl_id: int) -> DeadLetter:
    r = session.get(DeadLetter, dl_id, with_for_update=True)
    if r is None:
        raise NotFound(f"dead letter {dl_id}: not found")
    return r


def discard_dead_letter(session: Session, actor: Actor, dl_id: int, note: str = "") -> None:
    require_role(actor, *ACT_ROLES)
    r = _dead_letter(session, dl_id)
    audit.record(
        session, actor.label, "dead_letter.discard", f"dead_letter:{dl_id}",
        {"topic": r.topic, "sha256": r.sha256, "reason": r.reason, "note": note[:500],
         "messages": r.messages, "coalesced": r.group_key},
    )  # fmt: skip
    session.delete(r)


def requeue_dead_letter(session: Session, actor: Actor, ctx: Context, dl_id: int) -> str:
    """Ingest the kept bytes again. Returns the outcome (stored, duplicate, status); the
    row goes. Conflict if the bytes were cut or ingest still refuses them (row kept)."""
    require_role(actor, *ACT_ROLES)
    r = _dead_letter(session, dl_id)
    raw = bytes(r.raw)
    if r.group_key is not None:
        # Only the first message's start was kept: requeueing it would look like the whole
        # row went through while the others are gone. Discard it once the cause is fixed.
        raise Conflict(
            f"dead letter {dl_id}: stands for {r.messages} coalesced messages on {r.topic}"
            f" ({r.group_key}); only a sample of the first was kept: cannot requeue"
        )
    ing = ctx.config.ingest
    if len(raw) != r.size:
        # What insertion kept (dead_letter_row); only a row cut below that was evicted —
        # with dead_letter_raw_bytes: 4096 a long payload keeps 4096 bytes and was not.
        limit = ing.dead_letter_keep_bytes
        at_insert = r.size if r.size <= limit else min(limit, OVERSIZE_HEAD)
        why = (
            "evicted to keep all dead letters within ingest.dead_letters_max_total_bytes"
            if len(raw) == EVICTED_KEEP and at_insert > EVICTED_KEEP
            else "larger than ingest.dead_letter_raw_bytes (or max_payload_bytes)"
        )
        raise Conflict(
            f"dead letter {dl_id}: only {len(raw)} of {r.size} bytes were kept ({why}):"
            " cannot requeue"
        )
    window = OccurredWindow(
        ahead=timedelta(seconds=ing.occurred_ahead_s),
        behind=timedelta(days=ing.occurred_behind_days),
    )
    keys = KeyCache(lambda: load_device_keys(session))
    c = classify(Incoming(r.topic, raw), keys, ing.max_payload_bytes, window, now=r.received)
    if isinstance(c, Rejected):
        raise Conflict(f"dead letter {dl_id}: still refused: {c.reason}")
    (out,) = store_batch(
        session, [c], ctx.evidence, ing.dead_letter_keep_bytes, ing.dead_letters_max_total_bytes,
        ing.dead_letters_per_topic,
    )  # fmt: skip
    audit.record(
        session, actor.label, "dead_letter.requeue", f"dead_letter:{dl_id}",
        {"topic": r.topic, "sha256": r.sha256, "outcome": out.status, "event_id": out.event_id},
    )  # fmt: skip
    session.delete(r)
    return out.status


# --- quarantine ----------------------------------------------------------------------------


def _quarantined(session: Session, event_id: str) -> Event:
    e = session.execute(
        sa.select(Event).where(Event.event_id == event_id).with_for_update()
    ).scalar_one_or_none()
    if e is None:
        raise NotFound(f"event {event_id}: not found")
    if e.status != EventStatus.quarantined:
        raise Conflict(f"event {event_id}: is {e.status}, not quarantined")
    return e


def release_quarantined(session: Session, actor: Actor, event_id: str, note: str) -> str:
    """Into review (matched to a person still enrolled) or the unidentified list; the
    admin says why (e.g. the gateway's clock was wrong by a known offset)."""
    require_role(actor, *ACT_ROLES)
    if not note.strip():
        raise ValueError("note: say why the event's time can be trusted")
    e = _quarantined(session, event_id)
    person = session.get(Person, e.match_person_id) if e.match_person_id else None
    if person is not None and person.erased_at is None:
        new = EventStatus.pending_review
    else:
        new, e.match_person_id, e.match_score = EventStatus.unidentified, None, None
    audit.record(
        session, actor.label, "quarantine.release", f"event:{event_id}",
        {"reason": e.reason_code, "to": str(new), "note": note.strip()[:500]},
    )  # fmt: skip
    e.status, e.reason_code = new, None
    return str(new)


def discard_quarantined(session: Session, actor: Actor, event_id: str, note: str = "") -> None:
    """Never reviewed: dismissed with reason ``quarantine_discarded`` (kept for the
    record until retention purges it, like every dismissed event)."""
    require_role(actor, *ACT_ROLES)
    e = _quarantined(session, event_id)
    audit.record(
        session, actor.label, "quarantine.discard", f"event:{event_id}",
        {"reason": e.reason_code, "note": note.strip()[:500]},
    )  # fmt: skip
    e.status, e.reason_code = EventStatus.dismissed, "quarantine_discarded"
    e.match_person_id = None  # never to be identified after the fact
