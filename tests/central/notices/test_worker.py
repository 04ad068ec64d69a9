"""Sender behaviour that needs no network: concurrent workers, paper and check paths,
operator resolution, the CLI."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from central.notices import cli
from central.notices.providers.base import Submission
from central.notices.providers.log import LogProvider
from central.notices.status import resolve_check
from central.notices.worker import NoticeSender, backoff_s
from central.store.db import make_engine, session_factory
from central.store.models import AuditEntry, Person
from tests.central.notices.helpers import (
    GREEK_PHONE,
    UK_PHONE,
    add_notice,
    counts,
    fast_config,
    notice,
    statuses,
)


class CountingLog(LogProvider):
    """The log provider, counting submissions per destination+key across threads."""

    def __init__(self, counter: Counter[str], lock: threading.Lock) -> None:
        super().__init__()
        self.counter, self.lock = counter, lock

    def submit(self, to_e164: str, text: str, idempotency_key: str) -> Submission:
        with self.lock:
            self.counter[idempotency_key] += 1
        return super().submit(to_e164, text, idempotency_key)


def test_several_workers_send_each_notice_exactly_once(
    db_url: str, sessions: sessionmaker[Session]
) -> None:
    ids = [add_notice(sessions, UK_PHONE if i % 2 else GREEK_PHONE) for i in range(60)]
    counter: Counter[str] = Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        engine = make_engine(db_url)
        try:
            s = NoticeSender(
                session_factory(engine),
                fast_config(batch_size=5),
                CountingLog(counter, lock),
                worker_id=f"w{n}",
            )
            while s.run_once().claimed:
                pass
        except BaseException as e:
            errors.append(e)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert sum(counter.values()) == len(ids)
    assert all(v == 1 for v in counter.values())
    assert counts(sessions) == {"delivered": len(ids)}


def test_no_phone_or_erased_person_goes_to_paper(sessions: sessionmaker[Session]) -> None:
    no_phone = add_notice(sessions, None)
    erased = add_notice(sessions, UK_PHONE)
    with sessions.begin() as s:
        n = notice(sessions, erased)
        p = s.get(Person, n.person_id)
        assert p is not None
        p.erased_at = datetime.now(UTC)
    s = NoticeSender(sessions, fast_config(), LogProvider())
    stats = s.run_once()
    assert stats.claimed == 2 and stats.paper == 2 and stats.sent == 0
    assert notice(sessions, no_phone).status == "paper_required"
    assert "no phone number" in (notice(sessions, no_phone).last_error or "")
    assert "erased" in (notice(sessions, erased).last_error or "")


def test_check_required_is_resolved_by_an_operator_and_audited(
    sessions: sessionmaker[Session],
) -> None:
    nid = add_notice(sessions, UK_PHONE)
    dead = NoticeSender(sessions, fast_config(retry={"claim_lease_s": 0.001}), LogProvider())
    dead.claim()  # claimed, then the worker vanished
    # The provider cannot de-duplicate: the recovering worker must not resubmit.
    blind = LogProvider()
    blind.idempotent = False
    s = NoticeSender(sessions, fast_config(retry={"claim_lease_s": 0.001}), blind)
    assert s.run_once().check == 1
    assert notice(sessions, nid).status == "check_required"

    other = add_notice(
        sessions, UK_PHONE, kind="payment_received", params={"reference": "R", "amount": "£1"}
    )
    with sessions.begin() as db, pytest.raises(ValueError, match="is pending, not check_required"):
        resolve_check(db, other, was_sent=True, actor="operator:olive")
    with sessions.begin() as db, pytest.raises(LookupError, match="not found"):
        resolve_check(db, 10_000, was_sent=True, actor="operator:olive")
    with sessions.begin() as db:
        resolve_check(db, nid, was_sent=False, actor="operator:olive", note="not in SMSC log")
    assert notice(sessions, nid).status == "pending"
    assert s.run_once().sent == 2
    st = statuses(sessions, notice_ids=[nid])[0]
    assert st.status == "delivered" and st.parts == 1
    with sessions() as db:
        entry = db.query(AuditEntry).filter_by(action="notice.resolve").one()
        assert entry.target == f"notice:{nid}" and entry.details["was_sent"] is False


def test_backoff_doubles_up_to_the_cap() -> None:
    cfg = fast_config(retry={"backoff_base_s": 30, "backoff_max_s": 100})
    assert [backoff_s(cfg, a) for a in (1, 2, 3, 4)] == [30, 60, 100, 100]


def test_cli_send_once_and_status(
    db_url: str, sessions: sessionmaker[Session], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nid = add_notice(sessions, GREEK_PHONE)
    central = tmp_path / "central.yaml"
    central.write_text(f"database_url: {db_url}\n")
    assert cli.main(["send", "--once", "--config", str(central)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["sent"] == 1
    assert cli.main(["status", "--config", str(central), "--json"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert row["notice_id"] == nid and row["status"] == "delivered" and row["language"] == "en"
    bad = tmp_path / "notices.yaml"
    bad.write_text("provider: {kind: smpp}\n")
    assert cli.main(["send", "--once", "--config", str(central), "--notices-config", str(bad)]) == 2
    assert "notices.yaml: provider.smpp.host" in capsys.readouterr().err


def test_cli_resolve_and_text_status(
    db_url: str, sessions: sessionmaker[Session], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nid = add_notice(sessions, UK_PHONE)
    NoticeSender(sessions, fast_config(retry={"claim_lease_s": 0.001}), LogProvider()).claim()
    blind = LogProvider()
    blind.idempotent = False
    NoticeSender(sessions, fast_config(retry={"claim_lease_s": 0.001}), blind).run_once()
    central = tmp_path / "central.yaml"
    central.write_text(f"database_url: {db_url}\n")
    assert cli.main(["status", "--config", str(central), "--status", "check_required"]) == 0
    out = capsys.readouterr().out
    assert "check_required=1" in out and f"#{nid} fine_issued" in out and "not resubmitted" in out
    args = [
        "resolve",
        str(nid),
        "--was-sent",
        "--actor",
        "operator:olive",
        "--config",
        str(central),
    ]
    assert cli.main(args) == 0
    assert notice(sessions, nid).status == "sent"
    assert cli.main(args) == 2
    assert "is sent, not check_required" in capsys.readouterr().err
