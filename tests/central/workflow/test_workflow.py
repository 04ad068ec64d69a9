"""Workflow, storage, audit and retention on both databases (SQLite file and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from central import audit
from central.config import RetentionSettings, load_config
from central.context import Context
from central.fines import load_schedule
from central.ingest.classify import Incoming, KeyCache, classify
from central.ingest.store import load_device_keys, store_batch
from central.retention import run_purge
from central.store.models import AuditEntry, Base, DeadLetter, Event, Evidence, Fine, Notice
from central.workflow import appeals, payments, review, sanctions
from central.workflow.common import Actor, Conflict, Forbidden
from central.workflow.persons import enrol, erase, read_person
from central.workflow.score import current_score
from jaywatch import wire
from tests.central.helpers import (
    ADMIN,
    OPERATOR,
    REPO,
    SUPERVISOR,
    add_device,
    make_context,
    violation,
)

CITIZEN = Actor("c", "citizen")
PROVIDER = Actor("provider:test", "system")


def provider_payment(reference: str, payment_id: str, cents: int) -> payments.IncomingPayment:
    return payments.IncomingPayment(
        channel="checkout", provider="test", payment_id=payment_id, reference=reference,
        amount_cents=cents, currency="EUR",
    )  # fmt: skip


@pytest.fixture
def ctx(db_url: str, tmp_path: Path) -> Iterator[Context]:
    c = make_context(db_url, tmp_path)
    yield c
    c.close()


def ingest(ctx: Context, ev: wire.ViolationEvent, now: datetime | None = None) -> str:
    """Classify and store ``ev`` as if received at ``now`` (default: the clock)."""

    def keys() -> dict[str, bytes]:
        with ctx.sessions() as s:
            return load_device_keys(s)

    msg = Incoming(wire.violation_topic(ev.device_id), ev.model_dump_json().encode())
    with ctx.sessions.begin() as s:
        c = classify(msg, KeyCache(keys), 10**7, now=now)
        return store_batch(s, [c], ctx.evidence, 1024)[0].status


def person(ctx: Context, name: str = "Ann") -> str:
    with ctx.sessions.begin() as s:
        return enrol(s, ADMIN, ctx.rules, "+447400123456", "Road Traffic Act s.1", name).id


def confirm(ctx: Context, event_id: str) -> Fine:
    with ctx.sessions.begin() as s:
        return review.confirm(s, OPERATOR, ctx.rules, event_id).fine


def test_migrations_match_the_models(ctx: Context) -> None:
    with ctx.engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), Base.metadata)
    ours = [d for d in diff if "notice_" not in str(d)]  # sub-package tables have own branches
    assert ours == []
    if ctx.engine.dialect.name == "sqlite":
        with ctx.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_signed_payload_can_be_reverified_from_storage(ctx: Context) -> None:
    """What is stored (metadata + content-addressed images) rebuilds the signed message."""
    import base64

    key = add_device(ctx)
    ev = violation(key, images=3)
    assert ingest(ctx, ev) == "stored"
    with ctx.sessions() as s:
        stored = s.execute(sa.select(Event.payload)).scalar_one()
    for img in stored["evidence"]:
        img["jpeg_b64"] = base64.b64encode(ctx.evidence.get(img.pop("sha256"))).decode()
    rebuilt = wire.ViolationEvent.model_validate(stored)
    dev_key = wire.public_key_bytes(key)
    assert wire.verify_message(rebuilt, dev_key)
    stored["evidence"][0]["jpeg_b64"] = stored["evidence"][1]["jpeg_b64"]  # swap an image
    assert not wire.verify_message(wire.ViolationEvent.model_validate(stored), dev_key)


def test_unmatched_and_unknown_matches_are_unidentified(ctx: Context) -> None:
    key = add_device(ctx)
    pid = person(ctx)
    evs = [violation(key), violation(key, person_id="not-enrolled"), violation(key, person_id=pid)]
    for ev in evs:
        ingest(ctx, ev)
    with ctx.sessions() as s:
        status = dict(s.execute(sa.select(Event.event_id, Event.status)).all())
    assert [status[e.event_id] for e in evs] == ["unidentified", "unidentified", "pending_review"]
    with ctx.sessions.begin() as s, pytest.raises(Conflict):
        review.confirm(s, OPERATOR, ctx.rules, evs[0].event_id)


def test_repeat_offences_escalate_and_points_expire(ctx: Context) -> None:
    key = add_device(ctx)
    pid = person(ctx)
    now = datetime.now(UTC)
    # Four offences: two long ago (outside the 365-day window and past points expiry),
    # then two recent ones → the second recent one is the 2nd within the window.
    times = [
        now - timedelta(days=900),
        now - timedelta(days=800),
        now - timedelta(days=20),
        now - timedelta(days=2),
    ]
    fines = []
    for t in times:
        ev = violation(key, person_id=pid, occurred=t)
        ingest(ctx, ev, now=t + timedelta(minutes=1))  # received back then
        fines.append(confirm(ctx, ev.event_id))
    assert [f.amount_cents for f in fines] == [3000, 6000, 3000, 6000]
    assert [f.points for f in fines] == [1, 2, 1, 2]
    with ctx.sessions() as s:
        # Only the two recent deductions (1 + 2) are active: the old ones expired (730 days).
        assert current_score(s, ctx.rules, pid) == 12 - 3
        # Projected: 711 days on, the one from 20 days ago has expired too.
        assert current_score(s, ctx.rules, pid, now + timedelta(days=711)) == 12 - 2
        assert current_score(s, ctx.rules, pid, now + timedelta(days=727)) == 12 - 2
        assert current_score(s, ctx.rules, pid, now + timedelta(days=729)) == 12
        assert current_score(s, ctx.rules, pid, now + timedelta(days=709)) == 12 - 3


def test_only_an_operator_confirms_and_dismiss_needs_a_reason(ctx: Context) -> None:
    key = add_device(ctx)
    pid = person(ctx)
    ev = violation(key, person_id=pid)
    ingest(ctx, ev)
    for who in (SUPERVISOR, ADMIN, CITIZEN):
        with ctx.sessions.begin() as s, pytest.raises(Forbidden):
            review.confirm(s, who, ctx.rules, ev.event_id)
    with ctx.sessions.begin() as s, pytest.raises(ValueError, match="reason"):
        review.dismiss(s, OPERATOR, ev.event_id, "because")
    with ctx.sessions.begin() as s:
        review.dismiss(s, OPERATOR, ev.event_id, "wrong_person")
    with ctx.sessions() as s:
        assert s.execute(sa.select(sa.func.count(Fine.id))).scalar() == 0
        assert s.execute(sa.select(sa.func.count(Notice.id))).scalar() == 0


def test_confirm_writes_fine_ledger_notice_and_display_in_one_transaction(ctx: Context) -> None:
    key = add_device(ctx)
    pid = person(ctx)
    ev = violation(key, person_id=pid)
    ingest(ctx, ev)
    f = confirm(ctx, ev.event_id)
    with ctx.sessions() as s:
        (notice,) = s.execute(sa.select(Notice)).scalars()
        assert (notice.kind, notice.status, notice.person_id) == ("fine_issued", "pending", pid)
        assert notice.params["reference"] == f.reference and notice.params["amount"] == "EUR 30.00"
        feed = sanctions.display_feed(s)
        assert [d.place for d in feed] == ["Main St / 5th"] and feed[0].fine == "EUR 30.00"
        assert current_score(s, ctx.rules, pid) == 11
    # A citizen can never mark a fine paid; the provider's payment is idempotent on its id.
    with ctx.sessions.begin() as s, pytest.raises(Forbidden):
        payments.apply_payment(s, CITIZEN, provider_payment(f.reference, "PSP-1", 3000))
    with ctx.sessions.begin() as s:
        assert payments.apply_payment(
            s, PROVIDER, provider_payment(f.reference, "PSP-1", 3000)
        ).newly_recorded
    with ctx.sessions.begin() as s:
        again = payments.apply_payment(s, PROVIDER, provider_payment(f.reference, "PSP-1", 3000))
        assert again.newly_recorded is False
    with ctx.sessions.begin() as s:
        late = payments.apply_payment(s, PROVIDER, provider_payment(f.reference, "PSP-2", 3000))
        assert late.payment.outcome == "not_due" and late.adjustment.kind == "refund_due"
        assert sanctions.display_feed(s) == []
        withdrawn = sanctions.display_feed(
            s, withdrawn_since=datetime.now(UTC) - timedelta(minutes=5)
        )
        assert [d.withdrawn for d in withdrawn] == [True]


def test_erasure_unlinks_personal_data_and_pending_matches(ctx: Context) -> None:
    key = add_device(ctx)
    pid = person(ctx)
    ev = violation(key, person_id=pid)
    ingest(ctx, ev)
    from central.workflow import gallery
    from tests.central.gallery.test_snapshots import synthetic

    with ctx.sessions.begin() as s:
        assert gallery.upload(s, ADMIN, ctx.evidence, synthetic({pid: 1}).to_bytes()).version == 1
    with ctx.sessions.begin() as s:
        gv = erase(s, SUPERVISOR, pid, ctx.evidence)
    assert gv is not None and gv.version == 2
    with ctx.sessions.begin() as s:
        assert s.execute(sa.select(Event.status)).scalar() == "unidentified"
        with pytest.raises(Conflict, match="erased"):
            read_person(s, OPERATOR, ctx.rules, pid)
    # A later event matching the erased person is not identified either.
    ev2 = violation(key, person_id=pid)
    ingest(ctx, ev2)
    with ctx.sessions() as s:
        assert (
            s.execute(sa.select(Event.status).where(Event.event_id == ev2.event_id)).scalar()
            == "unidentified"
        )


def test_audit_verify_finds_edited_and_deleted_entries(ctx: Context, tmp_path: Path) -> None:
    person(ctx, "A")
    person(ctx, "B")
    person(ctx, "C")
    person(ctx, "D")
    with ctx.sessions() as s:
        good = audit.verify(s)
    assert good.ok and good.entries == 4
    with ctx.sessions.begin() as s:
        s.execute(sa.update(AuditEntry).where(AuditEntry.seq == 2).values(actor="someone-else"))
    with ctx.sessions() as s:
        r = audit.verify(s)
    assert not r.ok and any("entry 2" in p and "edited" in p for p in r.problems)
    with ctx.sessions.begin() as s:
        s.execute(sa.update(AuditEntry).where(AuditEntry.seq == 2).values(actor="admin:ada"))
        s.execute(sa.delete(AuditEntry).where(AuditEntry.seq == 3))
    with ctx.sessions() as s:
        r = audit.verify(s)
        assert any("missing" in p for p in r.problems)
    # Removing the newest entry shows only against the head remembered earlier.
    with ctx.sessions.begin() as s:
        s.execute(sa.delete(AuditEntry).where(AuditEntry.seq >= 3))
    with ctx.sessions() as s:
        assert audit.verify(s).ok
        assert not audit.verify(s, expect_head=good.head).ok
        s.execute(sa.delete(AuditEntry).where(AuditEntry.seq == 1))
        s.commit()

    # The CLI says the same, with exit code 1.
    cfg = tmp_path / "central.yaml"
    cfg.write_text(
        f"database_url: {ctx.config.database_url}\nevidence_dir: {tmp_path / 'ev'}\n"
        f"fines_file: {REPO / 'config' / 'fines.yaml'}\n"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaywatch_app.cli",
            "central",
            "--config",
            str(cfg),
            "audit",
            "verify",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 1 and "missing" in out.stdout, out.stdout + out.stderr


def test_purge_respects_limits_and_never_evidence_under_appeal(ctx: Context) -> None:
    key = add_device(ctx)
    pid = person(ctx)
    evs = {
        k: violation(key, person_id=pid if k != "unidentified" else None)
        for k in ("unidentified", "paid", "appealed")
    }
    for ev in evs.values():
        ingest(ctx, ev)
    f_paid = confirm(ctx, evs["paid"].event_id)
    f_app = confirm(ctx, evs["appealed"].event_id)
    with ctx.sessions.begin() as s:
        appeals.submit_appeal(s, CITIZEN, ctx.evidence, ctx.rules, f_app.reference, "It was green")
    with ctx.sessions.begin() as s:
        payments.apply_payment(
            s, PROVIDER, provider_payment(f_app.reference, "PSP-A", f_app.amount_cents)
        )
        payments.apply_payment(
            s, PROVIDER, provider_payment(f_paid.reference, "PSP-P", f_paid.amount_cents)
        )
        s.add(DeadLetter(topic="t", reason="r", raw=b"x", size=1, sha256="0" * 64))
    zero = RetentionSettings(
        dead_letters_days=0,
        unidentified_events_days=0,
        dismissed_events_days=0,
        closed_fine_evidence_days=0,
        sessions_days=0,
    )
    with ctx.sessions() as s:
        shas = dict(
            s.execute(
                sa.select(Event.event_id, Evidence.sha256).join(
                    Evidence, Evidence.event_pk == Event.id
                )
            ).all()
        )
    counts = run_purge(ctx.sessions, ctx.evidence, zero)
    assert counts["dead_letters"] == 1 and counts["unidentified_events"] == 1
    assert counts["closed_fine_evidence"] == 1  # the paid one; the appealed one is kept
    with ctx.sessions() as s:
        left = set(
            s.execute(
                sa.select(Event.event_id).join(Evidence, Evidence.event_pk == Event.id)
            ).scalars()
        )
        assert left == {evs["appealed"].event_id}
        assert s.execute(sa.select(sa.func.count(Fine.id))).scalar() == 2  # fines themselves stay
    # Blobs of the purged evidence are gone unless shared (same image bytes) with kept evidence.
    kept = shas[evs["appealed"].event_id]
    for eid in (evs["paid"].event_id, evs["unidentified"].event_id):
        assert ctx.evidence.exists(shas[eid]) == (shas[eid] == kept)
    assert ctx.evidence.exists(kept)


def test_config_and_schedule_errors_name_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("score:\n  start: -1\nbogus: 1\n")
    with pytest.raises(ValueError, match=r"c\.yaml: score\.start") as e:
        load_config(bad)
    # one line: the first problem, and how many more (the one format, jaywatch/config_file.py)
    assert str(e.value).endswith("(and 1 more)")
    sched = tmp_path / "f.yaml"
    sched.write_text(
        "currency: EUR\noffences:\n  X:\n    description: x\n"
        "    amount: 'ten'\n    points: 1\n    due_days: 5\n"
    )
    with pytest.raises(ValueError, match=r"f\.yaml: offences\.X\.amount"):
        load_schedule(sched)
