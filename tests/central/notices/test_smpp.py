"""The sender against a real SMPP exchange on loopback (smpplib ESME ↔ smpp34 SMSC)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from central.notices.config import SmppSettings
from central.notices.encoding import DC_UCS2, ESM_UDHI, decode_parts
from central.notices.models import NoticePart
from central.notices.providers.smpp import SmppProvider
from central.notices.worker import NoticeSender
from tests.central.notices.helpers import (
    GREEK_PHONE,
    UK_PHONE,
    add_notice,
    fast_config,
    notice,
    statuses,
)
from tests.central.notices.smsc import SmscProcess, TestSmsc
from tests.conftest import REPO


@pytest.fixture
def smsc() -> Iterator[TestSmsc]:
    s = TestSmsc().start()
    yield s
    s.close()


def smpp_settings(port: int) -> SmppSettings:
    return SmppSettings(
        kind="smpp", host="127.0.0.1", port=port, system_id="jaywatch", password="pw", timeout_s=5
    )


def sender(sessions, port: int, **kw) -> NoticeSender:  # type: ignore[no-untyped-def]
    cfg = fast_config(provider=smpp_settings(port), **kw)
    return NoticeSender(sessions, cfg, SmppProvider(cfg.provider, cfg.max_parts))  # type: ignore[arg-type]


def wait_receipts(s: NoticeSender, until, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        s.apply_receipts(0.2)


def test_greek_notice_arrives_as_concatenated_ucs2_parts_and_receipts_mark_it_delivered(
    sessions: sessionmaker[Session], smsc: TestSmsc
) -> None:
    nid = add_notice(sessions, GREEK_PHONE)
    s = sender(sessions, smsc.port)
    try:
        stats = s.run_once()
        assert stats.sent == 1
        assert notice(sessions, nid).status in ("sent", "delivered")
        wait_receipts(s, lambda: notice(sessions, nid).status == "delivered")
    finally:
        s.close()

    got = smsc.to(GREEK_PHONE.lstrip("+"))
    assert len(got) > 1, "a > 70 character Greek text must be split"
    assert {g.data_coding for g in got} == {DC_UCS2}
    assert all(g.esm_class & ESM_UDHI for g in got)
    refs = {g.short_message[3] for g in got}
    assert len(refs) == 1, "all parts carry one concatenation reference"
    assert [g.short_message[5] for g in got] == list(range(1, len(got) + 1))
    assert all(g.short_message[4] == len(got) for g in got)
    text = decode_parts(DC_UCS2, ESM_UDHI, [g.short_message for g in got])
    assert "Διάβαση με κόκκινο" in text and "JW-7Q2K9" in text and "K7Q2" in text
    assert all(len(g.short_message) <= 140 for g in got)

    st = statuses(sessions, notice_ids=[nid])[0]
    assert st.status == "delivered"
    assert st.language == "el"
    assert st.parts == len(got) and st.parts_delivered == len(got)
    assert sorted(st.message_ids) == sorted(g.message_id for g in got)
    assert st.delivered_at is not None


def test_undeliverable_receipt_flags_paper_notice(
    sessions: sessionmaker[Session], smsc: TestSmsc
) -> None:
    smsc.receipt_stat = "UNDELIV"
    nid = add_notice(
        sessions, UK_PHONE, kind="payment_received", params={"reference": "R1", "amount": "£10"}
    )
    s = sender(sessions, smsc.port)
    try:
        s.run_once()
        wait_receipts(s, lambda: notice(sessions, nid).status != "sent")
    finally:
        s.close()
    n = notice(sessions, nid)
    assert n.status == "paper_required"
    assert "undeliverable" in (n.last_error or "")
    assert len(smsc.to(UK_PHONE.lstrip("+"))) == 1  # short Latin text: one GSM-7 part
    assert smsc.to(UK_PHONE.lstrip("+"))[0].data_coding == 0


def test_smsc_down_then_back_delivers_once(sessions: sessionmaker[Session]) -> None:
    nid = add_notice(sessions, GREEK_PHONE)
    smsc = SmscProcess()  # port chosen, nothing listening yet: the SMSC is down
    s = sender(sessions, smsc.port, retry={"max_attempts": 10})
    try:
        for _ in range(3):
            stats = s.run_once()
            assert stats.retry == 1 and stats.sent == 0
        n = notice(sessions, nid)
        assert n.status == "pending" and n.attempts == 3
        assert "bind" in (n.last_error or "")

        smsc.start()  # the SMSC returns
        stats = s.run_once()
        assert stats.sent == 1
        wait_receipts(s, lambda: notice(sessions, nid).status == "delivered")
        assert notice(sessions, nid).status == "delivered"

        # It crashes while the sender is bound and idle: the dead link is found by
        # enquire_link before any submit_sm, so nothing is left in doubt; the next
        # notice waits and goes once the SMSC is back.
        smsc.kill()
        nid2 = add_notice(sessions, UK_PHONE)
        stats = s.run_once()
        assert stats.retry == 1 and stats.check == 0
        smsc.start()
        assert s.run_once().sent == 1
        assert s.run_once().claimed == 0  # nothing left, nothing sent twice
    finally:
        s.close()
        smsc.kill()
    greek = smsc.to(GREEK_PHONE.lstrip("+"))
    assert len(greek) > 1
    assert sorted(bytes.fromhex(str(p["short_message"]))[5] for p in greek) == list(
        range(1, len(greek) + 1)
    ), "each part exactly once"
    [uk] = statuses(sessions, notice_ids=[nid2])
    assert len(smsc.to(UK_PHONE.lstrip("+"))) == len(uk.message_ids) == uk.parts > 0


def test_smsc_never_returns_paper_notice_after_last_retry(sessions: sessionmaker[Session]) -> None:
    nid = add_notice(sessions, UK_PHONE)
    smsc = TestSmsc()  # never started
    s = sender(sessions, smsc.port, retry={"max_attempts": 3})
    try:
        for _ in range(5):
            s.run_once()
    finally:
        s.close()
        smsc.close()
    n = notice(sessions, nid)
    assert n.status == "paper_required"
    assert n.attempts == 3
    assert "last attempt" in (n.last_error or "") and "paper" in (n.last_error or "")


def _write_configs(tmp_path: Path, db_url: str, port: int) -> tuple[Path, Path]:
    central = tmp_path / "central.yaml"
    central.write_text(f"database_url: {db_url}\n")
    notices = tmp_path / "notices.yaml"
    example = (REPO / "config" / "notices.example.yaml").read_text()
    body = example.split("retry:", 1)[1]
    notices.write_text(
        "provider:\n  kind: smpp\n  host: 127.0.0.1\n"
        f"  port: {port}\n  system_id: jaywatch\n  password: pw\n"
        "retry:"
        + body.replace("claim_lease_s: 300", "claim_lease_s: 0.5").replace(
            "poll_interval_s: 2.0", "poll_interval_s: 0.2"
        )
    )
    return central, notices


def test_worker_killed_between_submit_and_mark_never_sends_twice(
    db_url: str, sessions: sessionmaker[Session], smsc: TestSmsc, tmp_path: Path
) -> None:
    victim = add_notice(sessions, GREEK_PHONE)
    central, notices = _write_configs(tmp_path, db_url, smsc.port)

    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "central.notices.cli",
            "send",
            "--config",
            str(central),
            "--notices-config",
            str(notices),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def kill_child(_sub: object) -> None:
        # The SMSC has the first submit_sm; its answer never reaches the worker.
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)

    smsc.on_submit = kill_child
    try:
        child.wait(60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL, (
        child.stderr.read().decode()[-2000:] if child.stderr else ""
    )
    smsc.on_submit = None
    assert notice(sessions, victim).status == "submitting"  # died before recording
    assert len(smsc.to(GREEK_PHONE.lstrip("+"))) == 1

    # A new worker, after the dead one's lease: it must not resubmit blindly.
    other = add_notice(
        sessions, UK_PHONE, kind="appeal_received", params={"reference": "R9", "appeal": 1}
    )
    time.sleep(0.6)  # let the 0.5 s lease run out (not a timing assertion)
    s = sender(sessions, smsc.port, retry={"claim_lease_s": 0.5})
    try:
        stats = s.run_once()
        s.run_once()
    finally:
        s.close()
    assert stats.check == 1 and stats.sent == 1
    n = notice(sessions, victim)
    assert n.status == "check_required"
    assert "not resubmitted" in (n.last_error or "")
    assert len(smsc.to(GREEK_PHONE.lstrip("+"))) == 1, (
        "the killed worker's SMS was sent a second time"
    )
    assert notice(sessions, other).status in ("sent", "delivered")
    with sessions() as db:
        assert db.query(NoticePart).filter_by(notice_id=victim).count() == 0


def test_throttled_second_part_is_resent_alone_and_the_notice_completes(
    sessions: sessionmaker[Session], smsc: TestSmsc
) -> None:
    import smpp34

    nid = add_notice(sessions, GREEK_PHONE)
    seen: list[int] = []

    def throttle_part_2_twice(sub: object) -> int | None:
        part = sub.short_message[5]  # type: ignore[attr-defined]
        seen.append(part)
        return smpp34.ESME_RTHROTTLED if part == 2 and seen.count(2) <= 2 else None

    smsc.refuse = throttle_part_2_twice
    cfg = fast_config(
        provider=smpp_settings(smsc.port).model_copy(update={"throttle_pause_s": 0.01})
    )
    s = NoticeSender(sessions, cfg, SmppProvider(cfg.provider, cfg.max_parts))  # type: ignore[arg-type]
    try:
        assert s.run_once().sent == 1
    finally:
        s.close()
    assert len(smsc.refused) == 2
    accepted = [p.short_message[5] for p in smsc.to(GREEK_PHONE.lstrip("+"))]
    assert accepted == list(range(1, len(accepted) + 1)), "every part accepted exactly once"
    assert statuses(sessions, notice_ids=[nid])[0].parts == len(accepted)


def test_part_refused_for_good_after_others_were_accepted_needs_a_check(
    sessions: sessionmaker[Session], smsc: TestSmsc
) -> None:
    import smpp34

    nid = add_notice(sessions, GREEK_PHONE)
    smsc.refuse = lambda sub: smpp34.ESME_RSYSERR if sub.short_message[5] == 2 else None  # type: ignore[attr-defined]
    s = sender(sessions, smsc.port)
    try:
        assert s.run_once().check == 1
        assert s.run_once().claimed == 0
    finally:
        s.close()
    n = notice(sessions, nid)
    assert n.status == "check_required" and "after accepting 1" in (n.last_error or "")
    assert len(smsc.to(GREEK_PHONE.lstrip("+"))) == 1
    assert statuses(sessions, notice_ids=[nid])[0].parts == 1  # the accepted part is on record
