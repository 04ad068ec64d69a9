"""Bank statements: CSV and camt.053 parsed into credit lines, safely and all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.payments.statements import load_statement
from central.workflow.payments import references_in

DATA = Path(__file__).parent / "data"


def _fill(name: str, **values: str) -> bytes:
    text = (DATA / name).read_text()
    for k, v in values.items():
        text = text.replace("{" + k + "}", v)
    return text.encode()


def test_camt053_entries_batches_pending_and_debits() -> None:
    data = _fill("camt053.xml", AMOUNT_B="30.00", REF_B_COMPACT="JWABCDEFGH", REF_C="JW-ABCD-EFG2")
    st = load_statement(data, "camt053.xml")
    assert st.source == "camt053"
    got = [(e.amount_cents, e.remittance, e.counterparty, e.bank_ref) for e in st.entries]
    assert got == [
        (3000, "JWABCDEFGH", "Ahmed Al-Sayed", "CAMT-20261202-0001"),
        (2500, "JW-ABCD-EFG2", "Batch Payer One", "CAMT-20261202-0002/1"),  # batch: per tx
        (3000, "Invoice 2026-88", "Batch Payer Two", "CAMT-20261202-0002/2"),
        (-420, "Charges", "", "CAMT-20261202-0003"),  # the pending entry is not there
    ]
    assert len({e.key for e in st.entries}) == 4
    assert load_statement(data, "again.xml").entries == st.entries  # same keys: idempotent


def test_csv_lines_and_keys() -> None:
    st = load_statement(_fill("statement.csv", AMOUNT_A="30.00", REF_A="JW-ABCD-EFGH"), "s.csv")
    assert [e.amount_cents for e in st.entries] == [3000, 3000, -1250, 3000, 6000]
    assert st.entries[0].remittance == "Fine JW-ABCD-EFGH thank you"
    assert str(st.entries[0].booked) == "2026-12-01"


def test_two_equal_lines_without_a_bank_reference_are_two_payments() -> None:
    csv = b"date,amount,currency,reference\n2026-12-01,30.00,EUR,JW-ABCD-EFGH\n" * 1
    csv += b"2026-12-01,30.00,EUR,JW-ABCD-EFGH\n"
    st = load_statement(csv, "twice.csv")
    assert len(st.entries) == 2 and st.entries[0].key != st.entries[1].key


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"date,amount,currency\n", "missing column(s) remittance"),
        (b"date,amount,currency,reference\n2026-12-01,30.001,EUR,x\n", "line 2: amount"),
        (b"date,amount,currency,reference\n2026-12-01,1e9,EUR,x\n", "line 2: amount"),
        (b"date,amount,currency,reference\n01/13/2026,30.00,EUR,x\n", "line 2: date"),
        (b"date,amount,currency,reference\n2026-12-01,30.00,EURO,x\n", "line 2: currency"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"<Document xmlns='urn:x'/>", "expected an ISO 20022 camt.053 document"),
        (b"<Document", "not well-formed XML"),
    ],
)
def test_bad_files_are_refused_with_the_line_and_field(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=r"bad\.file") as e:
        load_statement(data, "bad.file")
    assert message in str(e.value)


def test_xml_entities_and_dtds_are_refused() -> None:
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&b;</Document>"""
    external = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&x;</Document>"""
    for data in (bomb, external):
        with pytest.raises(ValueError, match="refused"):
            load_statement(data, "evil.xml")


def test_references_are_found_however_the_payer_wrote_them() -> None:
    assert references_in("fine jw-abcd-efgh, thanks") == ["JW-ABCD-EFGH"]
    assert references_in("JW ABCD EFGH") == ["JW-ABCD-EFGH"]
    assert references_in("JWABCDEFGH and JW-2345-6789") == ["JW-ABCD-EFGH", "JW-2345-6789"]
    assert references_in("Invoice 2026-88") == []
