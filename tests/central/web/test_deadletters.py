"""Dead letters and quarantine page for admins: escaped previews, requeue, discard,
release to review; every action audited (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.ingest.classify import Incoming, KeyCache, classify
from central.ingest.store import EVICTED_KEEP, OVERSIZE_HEAD, load_device_keys, store_batch
from central.store.models import AuditEntry, DeadLetter, Device, Event
from jaywatch import wire
from tests.central.web.util import csrf_of, login
from tests.central.web.world import DEVICE, World


def _keep_raw(world: World, n: int) -> None:
    """Set ``ingest.dead_letter_raw_bytes`` (the config is frozen: a changed copy)."""
    ingest = world.ctx.config.ingest.model_copy(update={"dead_letter_raw_bytes": n})
    world.ctx.config = world.ctx.config.model_copy(update={"ingest": ingest})


def _signed(world: World, **kw: object) -> bytes:
    """A violation signed by the world's gateway, not stored."""
    got: list[wire.ViolationEvent] = []
    real = world.ingest_event
    world.ingest_event = lambda ev: got.append(ev) or ev.event_id  # type: ignore[method-assign]
    try:
        world.ingest(**kw)  # type: ignore[arg-type]
    finally:
        world.ingest_event = real  # type: ignore[method-assign]
    return wire.sign_message(got[0], world.key).model_dump_json().encode()


def _ingest_raw(world: World, topic: str, payload: bytes) -> str:
    c = classify(
        Incoming(topic, payload),
        KeyCache(lambda: _keys(world)),
        world.ctx.config.ingest.max_payload_bytes,
    )
    with world.ctx.sessions.begin() as s:
        ing = world.ctx.config.ingest
        (out,) = store_batch(
            s, [c], world.ctx.evidence, ing.dead_letter_keep_bytes, ing.dead_letters_max_total_bytes
        )
    return out.status


def _keys(world: World) -> dict[str, bytes]:
    with world.ctx.sessions() as s:
        return load_device_keys(s)


def _audit(world: World) -> list[tuple[str, str]]:
    with world.ctx.sessions() as s:
        return list(s.execute(sa.select(AuditEntry.action, AuditEntry.target)).all())


def _set_disabled(world: World, disabled: bool) -> None:
    with world.ctx.sessions.begin() as s:
        s.execute(sa.update(Device).where(Device.id == DEVICE).values(disabled=disabled))


def test_requeue_after_the_device_is_enabled_and_discard(world: World, client: TestClient) -> None:
    # Violations with their images are far larger than 64 KiB (the old default): the
    # default now keeps whole payloads up to ingest.max_payload_bytes, so they requeue.
    assert world.ctx.config.ingest.dead_letter_raw_bytes is None
    payload = _signed(world)
    assert len(payload) > 65_536
    _set_disabled(world, True)
    assert _ingest_raw(world, wire.violation_topic(DEVICE), payload) == "rejected"
    hostile = b"<script>alert(1)</script>\xff\xfe" + b"x" * 2000
    assert _ingest_raw(world, wire.violation_topic(DEVICE), hostile) == "rejected"
    with world.ctx.sessions() as s:
        rows = {r.raw[:1]: r.id for r in s.execute(sa.select(DeadLetter)).scalars()}
    good_id, bad_id = rows[b"{"], rows[b"<"]
    login(client, "adam")
    html = client.get("/console/dead-letters").text
    assert (
        "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    )
    assert "not registered" in html
    token = csrf_of(html)
    # Still disabled: still refused, the row stays.
    r = client.post(f"/console/dead-letters/{good_id}/requeue", data={"csrf_token": token})
    assert r.status_code == 409 and "still refused" in r.text
    _set_disabled(world, False)
    r = client.post(
        f"/console/dead-letters/{good_id}/requeue",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "requeued" in r.headers["location"]
    with world.ctx.sessions() as s:
        assert s.get(DeadLetter, good_id) is None
        statuses = list(s.execute(sa.select(Event.status)).scalars())
    assert statuses == ["pending_review"]
    r = client.post(
        f"/console/dead-letters/{bad_id}/discard", data={"csrf_token": token, "note": "junk"}
    )
    assert r.status_code == 200 and "discarded" in r.text
    acts = _audit(world)
    assert ("dead_letter.requeue", f"dead_letter:{good_id}") in acts
    assert ("dead_letter.discard", f"dead_letter:{bad_id}") in acts
    assert (
        client.post(
            f"/console/dead-letters/{bad_id}/discard", data={"csrf_token": token}
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/console/dead-letters/{good_id}/requeue", data={"csrf_token": "x"}
        ).status_code
        == 403
    )


def test_cut_dead_letter_cannot_be_requeued(world: World, client: TestClient) -> None:
    _keep_raw(world, 256)
    _set_disabled(world, True)
    assert _ingest_raw(world, wire.violation_topic(DEVICE), _signed(world)) == "rejected"
    login(client, "adam")
    html = client.get("/console/dead-letters").text
    assert "cut: cannot requeue" in html
    (dl_id,) = re.findall(r'data-dead-letter="(\d+)"', html)
    r = client.post(f"/console/dead-letters/{dl_id}/requeue", data={"csrf_token": csrf_of(html)})
    assert r.status_code == 409 and "only 256 of" in r.text


def test_a_payload_cut_at_a_configured_4096_is_not_called_evicted(
    world: World, client: TestClient
) -> None:
    """``dead_letter_raw_bytes: 4096`` equals the evicted rows' 4 KiB: the 409 must say the
    payload was over the configured limit, not that the total cap evicted it."""
    _keep_raw(world, 4096)
    _set_disabled(world, True)
    payload = _signed(world)
    assert len(payload) > 4096
    assert _ingest_raw(world, wire.violation_topic(DEVICE), payload) == "rejected"
    login(client, "adam")
    html = client.get("/console/dead-letters").text
    (dl_id,) = re.findall(r'data-dead-letter="(\d+)"', html)
    r = client.post(f"/console/dead-letters/{dl_id}/requeue", data={"csrf_token": csrf_of(html)})
    assert r.status_code == 409 and "only 4096 of" in r.text
    assert "larger than ingest.dead_letter_raw_bytes" in r.text and "evicted" not in r.text


def test_quarantined_event_released_to_review_or_discarded(
    world: World, client: TestClient
) -> None:
    old = datetime.now(UTC) - timedelta(days=90)
    a = world.ingest(occurred=old)
    b = world.ingest(occurred=old, matched=False)
    with world.ctx.sessions() as s:
        assert set(s.execute(sa.select(Event.status)).scalars()) == {"quarantined"}
    login(client, "adam")
    html = client.get("/console/dead-letters").text
    assert f'data-event="{a}"' in html and "time long before receipt" in html
    token = csrf_of(html)
    no_note = client.post(f"/console/quarantine/{a}/release", data={"csrf_token": token})
    assert no_note.status_code == 422
    r = client.post(
        f"/console/quarantine/{a}/release",
        data={"csrf_token": token, "note": "gateway clock fixed, offset known"},
    )
    assert r.status_code == 200 and "released: pending review" in r.text
    r = client.post(f"/console/quarantine/{b}/discard", data={"csrf_token": token})
    assert r.status_code == 200
    with world.ctx.sessions() as s:
        got = dict(s.execute(sa.select(Event.event_id, Event.status)).all())
    assert got == {a: "pending_review", b: "dismissed"}
    again = client.post(f"/console/quarantine/{a}/discard", data={"csrf_token": token})
    assert again.status_code == 409
    acts = _audit(world)
    assert ("quarantine.release", f"event:{a}") in acts and (
        "quarantine.discard",
        f"event:{b}",
    ) in acts
    # The released one is now in the operators' queue.
    client.cookies.clear()
    login(client, "olive")
    assert a in client.get("/console/queue").text
    assert client.get("/console/dead-letters").status_code == 403


def _cap_total(world: World, n: int) -> None:
    ingest = world.ctx.config.ingest.model_copy(update={"dead_letters_max_total_bytes": n})
    world.ctx.config = world.ctx.config.model_copy(update={"ingest": ingest})


def test_whole_payloads_within_a_total_cap_oldest_evicted_and_audited(
    world: World, client: TestClient
) -> None:
    """Whole payloads are kept (requeue works), but all dead letters together keep at most
    ingest.dead_letters_max_total_bytes: the oldest are cut to 4 KiB, one audit entry."""
    cap = 1 << 20
    _cap_total(world, cap)
    _set_disabled(world, True)
    topic = wire.violation_topic(DEVICE)
    old_violation = _signed(world)
    assert _ingest_raw(world, topic, old_violation) == "rejected"
    junk = [os.urandom(300_000) for _ in range(4)]  # arbitrary bytes, each its own row
    for j in junk:
        assert _ingest_raw(world, topic, j) == "rejected"
    new_violation = _signed(world)
    assert _ingest_raw(world, topic, new_violation) == "rejected"
    with world.ctx.sessions() as s:
        rows = list(s.execute(sa.select(DeadLetter).order_by(DeadLetter.id)).scalars())
        kept = [(len(r.raw), r.size) for r in rows]
        evicts = list(
            s.execute(
                sa.select(AuditEntry.details).where(AuditEntry.action == "dead_letter.evict")
            ).scalars()
        )
    assert len(rows) == 6 and sum(k for k, _ in kept) <= cap, kept
    assert kept[-1] == (len(new_violation), len(new_violation))  # the newest: whole
    assert kept[0] == (EVICTED_KEEP, len(old_violation))  # the oldest: cut first
    cut = [r.id for r, (k, size) in zip(rows, kept, strict=True) if k < size]
    assert cut == [r.id for r in rows[: len(cut)]]  # oldest first, none skipped
    assert sorted({i for d in evicts for i in d["ids"]}) == cut
    assert all(d["max_total_bytes"] == cap for d in evicts)
    _set_disabled(world, False)
    login(client, "adam")
    html = client.get("/console/dead-letters").text
    token = csrf_of(html)
    r = client.post(f"/console/dead-letters/{rows[0].id}/requeue", data={"csrf_token": token})
    assert r.status_code == 409 and "evicted" in r.text
    r = client.post(
        f"/console/dead-letters/{rows[-1].id}/requeue",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "requeued" in r.headers["location"]
    with world.ctx.sessions() as s:
        assert list(s.execute(sa.select(Event.status)).scalars()) == ["pending_review"]


def test_a_message_over_the_kept_limit_keeps_its_head_only(world: World) -> None:
    """Bigger than ingest.max_payload_bytes: never read, so never requeued: 64 KiB kept."""
    big = b"{" + b"x" * (world.ctx.config.ingest.max_payload_bytes + 10)
    assert _ingest_raw(world, wire.violation_topic(DEVICE), big) == "rejected"
    with world.ctx.sessions() as s:
        (r,) = s.execute(sa.select(DeadLetter)).scalars()
        assert len(r.raw) == OVERSIZE_HEAD and r.size == len(big)
