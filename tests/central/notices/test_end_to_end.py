"""From an operator's confirmation to a delivered SMS: the workflow writes the outbox
row, the sender renders the workflow's real params and sends them over SMPP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.ingest.classify import Incoming, KeyCache, classify
from central.ingest.store import load_device_keys, store_batch
from central.notices.encoding import decode_parts
from central.notices.providers.smpp import SmppProvider
from central.notices.worker import NoticeSender
from central.workflow.appeals import decide_appeal, submit_appeal
from central.workflow.persons import enrol
from central.workflow.review import confirm
from jaywatch import wire
from tests.central.helpers import OPERATOR, SUPERVISOR, add_device, make_context, violation
from tests.central.notices.helpers import fast_config, statuses
from tests.central.notices.smsc import TestSmsc
from tests.central.notices.test_smpp import smpp_settings


@pytest.fixture
def smsc() -> Iterator[TestSmsc]:
    s = TestSmsc().start()
    yield s
    s.close()


def test_confirmed_fine_and_upheld_appeal_reach_the_phone(
    db_url: str, tmp_path: Path, smsc: TestSmsc
) -> None:
    ctx = make_context(db_url, tmp_path)
    try:
        key = add_device(ctx)
        with ctx.sessions.begin() as s:
            person = enrol(s, SUPERVISOR, ctx.rules, "+30 691 234 5678", "road traffic law art. 1")
        ev = violation(key, person_id=person.id)

        def device_keys() -> dict[str, bytes]:
            with ctx.sessions() as s:
                return load_device_keys(s)

        keys = KeyCache(device_keys)
        msg = Incoming(wire.violation_topic("gw-1"), ev.model_dump_json().encode())
        with ctx.sessions.begin() as s:
            (out,) = store_batch(s, [classify(msg, keys, 10_000_000)], ctx.evidence, 1024)
        assert out.status == "stored"
        with ctx.sessions.begin() as s:
            fine = confirm(s, OPERATOR, ctx.rules, ev.event_id).fine

        cfg = fast_config(provider=smpp_settings(smsc.port))
        sender = NoticeSender(ctx.sessions, cfg, SmppProvider(cfg.provider, cfg.max_parts))  # type: ignore[arg-type]
        try:
            assert sender.run_once().sent == 1
            with ctx.sessions.begin() as s:
                appeal = submit_appeal(
                    s, SUPERVISOR, ctx.evidence, ctx.rules, fine.reference, "It was green."
                )
            with ctx.sessions.begin() as s:
                decide_appeal(s, SUPERVISOR, ctx.rules, appeal.id, uphold=True, note="signal fault")
            assert sender.run_once().sent == 2
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                sender.apply_receipts(0.2)
                rows = statuses(ctx.sessions, person_id=person.id)
                if all(r.status == "delivered" for r in rows):
                    break
        finally:
            sender.close()
        assert [r.kind for r in rows] == ["appeal_upheld", "appeal_received", "fine_issued"]
        assert {r.status for r in rows} == {"delivered"}

        by_ref = {}
        for sub in smsc.to("306912345678"):
            by_ref.setdefault(
                sub.short_message[3] if sub.esm_class & 0x40 else sub.message_id, []
            ).append(sub)
        texts = [
            decode_parts(v[0].data_coding, v[0].esm_class, [p.short_message for p in v])
            for v in by_ref.values()
        ]
        fine_text = next(t for t in texts if "Πρόστιμο" in t)
        assert fine.reference in fine_text and f"/n/{fine.reference}" in fine_text
        assert "{" not in fine_text
        upheld = next(t for t in texts if "έγινε δεκτή" in t)
        assert fine.reference in upheld
    finally:
        ctx.close()
