"""Bank statements → credit lines: CSV (a header row; see ``CSV_COLUMNS``) and ISO 20022
camt.053 (BkToCstmrStmt, any version ``camt.053.001.*``).

XML is parsed with defusedxml: no DTD, no entity expansion, no external entities (a
statement is a file from outside). Parsing is all or nothing: a malformed line refuses
the whole file, with one error naming the file, the line (or entry) and the field, so a
statement is never half imported.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

MAX_FILE_BYTES = 64 * 1024 * 1024
# Column names accepted (case-insensitive) for each field; the first row is the header.
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "booked": ("date", "booking date", "booking_date", "booked", "value date"),
    "amount": ("amount", "credit", "amount_eur", "betrag"),
    "currency": ("currency", "ccy"),
    "remittance": ("reference", "remittance", "remittance information", "description", "details"),
    "counterparty": ("counterparty", "payer", "name", "debtor"),
    "bank_ref": ("bank reference", "bank_reference", "transaction id", "transaction_id", "id"),
    "account": ("account", "iban"),
}
REQUIRED = ("booked", "amount", "currency", "remittance")


@dataclass(frozen=True)
class StatementEntry:
    """One booked line (credit or debit) of a statement."""

    line_no: int  # CSV row (header = 1) or the entry's position in the XML (1-based)
    booked: date | None
    amount_cents: int  # negative: a debit
    currency: str
    remittance: str
    counterparty: str
    bank_ref: str | None
    account: str
    key: str = ""  # set by ``with_keys``

    @property
    def booked_at(self) -> datetime | None:
        return datetime(*self.booked.timetuple()[:3], tzinfo=UTC) if self.booked else None


@dataclass(frozen=True)
class Statement:
    source: str  # csv | camt053
    file_name: str
    sha256: str
    entries: list[StatementEntry]


def cents(text: str, where: str) -> int:
    """``"30.00"`` → 3000; at most two decimals, a dot as the separator."""
    t = text.strip().replace(" ", "")
    if not re.fullmatch(r"[+-]?\d{1,12}(\.\d{1,2})?", t):
        raise ValueError(f"{where}: expected an amount like 30.00, got {text[:40]!r}")
    try:
        return int(Decimal(t) * 100)
    except InvalidOperation:  # pragma: no cover - the pattern excludes it
        raise ValueError(f"{where}: expected an amount like 30.00, got {text[:40]!r}") from None


def _date(text: str, where: str) -> date:
    t = text.strip()[:10]
    for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y"):
        try:
            return datetime.strptime(t, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{where}: expected a date like 2026-12-01, got {text[:40]!r}")


def _currency(text: str, where: str) -> str:
    c = text.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", c):
        raise ValueError(f"{where}: expected a currency code like EUR, got {text[:20]!r}")
    return c


def _clean(text: str | None, n: int) -> str:
    return " ".join((text or "").replace("\x00", " ").split())[:n]


def with_keys(entries: list[StatementEntry]) -> list[StatementEntry]:
    """Each entry's idempotency key: the bank's own reference when given (unique per
    account), else a hash of the line's content and how many identical lines came
    before it in this file (two equal transfers on one day are two payments; the same
    file imported again gives the same keys)."""
    seen: Counter[str] = Counter()
    out = []
    for e in entries:
        if e.bank_ref:
            basis = f"ref|{e.account}|{e.bank_ref}|{e.amount_cents}|{e.currency}"
        else:
            content = (
                f"{e.account}|{e.booked}|{e.amount_cents}|{e.currency}|{e.remittance}|"
                f"{e.counterparty}"
            )
            seen[content] += 1
            basis = f"line|{content}|#{seen[content]}"
        key = hashlib.sha256(basis.encode()).hexdigest()
        out.append(StatementEntry(**{**vars(e), "key": key}))
    return out


def parse_csv(data: bytes, name: str) -> list[StatementEntry]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{name}: not UTF-8 text (save the CSV as UTF-8)") from None
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = csv.reader(io.StringIO(text), dialect)
    try:
        header = [h.strip().lower() for h in next(rows)]
    except StopIteration:
        raise ValueError(f"{name}: empty file") from None
    col: dict[str, int] = {}
    for fld, names in CSV_COLUMNS.items():
        for i, h in enumerate(header):
            if h in names:
                col[fld] = i
                break
    missing = [f for f in REQUIRED if f not in col]
    if missing:
        raise ValueError(
            f"{name}: line 1: missing column(s) {', '.join(missing)} (expected e.g. "
            + ", ".join(CSV_COLUMNS[f][0] for f in REQUIRED)
            + f"; got {', '.join(header)[:200]})"
        )
    out = []
    for n, row in enumerate(rows, start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < len(header):
            raise ValueError(f"{name}: line {n}: expected {len(header)} columns, got {len(row)}")

        def get(f: str, row: list[str] = row) -> str:
            return row[col[f]] if f in col else ""

        where = f"{name}: line {n}"
        out.append(
            StatementEntry(
                line_no=n,
                booked=_date(get("booked"), f"{where}: {header[col['booked']]}"),
                amount_cents=cents(get("amount"), f"{where}: {header[col['amount']]}"),
                currency=_currency(get("currency"), f"{where}: {header[col['currency']]}"),
                remittance=_clean(get("remittance"), 500),
                counterparty=_clean(get("counterparty"), 200),
                bank_ref=_clean(get("bank_ref"), 128) or None,
                account=_clean(get("account"), 64),
            )
        )
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _kids(el: Element, name: str) -> list[Element]:
    return [c for c in el if _local(c.tag) == name]


def _find(el: Element | None, *path: str) -> Element | None:
    for name in path:
        if el is None:
            return None
        kids = _kids(el, name)
        el = kids[0] if kids else None
    return el


def _text(el: Element | None, *path: str) -> str:
    found = _find(el, *path)
    return (found.text or "").strip() if found is not None else ""


def _amount(el: Element | None, where: str) -> tuple[int, str]:
    if el is None:
        raise ValueError(f"{where}: Amt: missing")
    ccy = el.get("Ccy")
    if not ccy:
        raise ValueError(f"{where}: Amt: the Ccy attribute is missing")
    return cents(el.text or "", f"{where}: Amt"), _currency(ccy, f"{where}: Amt@Ccy")


def _party_name(tx: Element) -> str:
    parties = _find(tx, "RltdPties")
    for path in (("Dbtr", "Nm"), ("Dbtr", "Pty", "Nm")):  # camt.053.001.02 / .08+
        t = _text(parties, *path)
        if t:
            return t
    return ""


def _remittance(tx: Element | None) -> str:
    if tx is None:
        return ""
    rmt = _find(tx, "RmtInf")
    if rmt is None:
        return ""
    parts = [(u.text or "").strip() for u in _kids(rmt, "Ustrd")]
    for strd in _kids(rmt, "Strd"):
        ref = _text(strd, "CdtrRefInf", "Ref")
        if ref:
            parts.append(ref)
    return " ".join(p for p in parts if p)


def parse_camt053(data: bytes, name: str) -> list[StatementEntry]:
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as e:
        raise ValueError(f"{name}: refused: {type(e).__name__} (no DTDs or entities)") from None
    except SafeET.ParseError as e:
        raise ValueError(f"{name}: not well-formed XML: {e}") from None
    ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    if not ns.startswith("urn:iso:std:iso:20022:tech:xsd:camt.053."):
        raise ValueError(
            f"{name}: expected an ISO 20022 camt.053 document "
            f"(urn:iso:std:iso:20022:tech:xsd:camt.053.001.*), got namespace {ns[:80]!r}"
        )
    stmt_root = _find(root, "BkToCstmrStmt")
    if stmt_root is None:
        raise ValueError(f"{name}: Document: BkToCstmrStmt missing")
    out: list[StatementEntry] = []
    pos = 0
    for s_no, stmt in enumerate(_kids(stmt_root, "Stmt"), start=1):
        acct = _text(stmt, "Acct", "Id", "IBAN") or _text(stmt, "Acct", "Id", "Othr", "Id")
        for ntry in _kids(stmt, "Ntry"):
            pos += 1
            where = f"{name}: Stmt {s_no}: Ntry {pos}"
            status = _text(ntry, "Sts", "Cd") or _text(ntry, "Sts")
            if status and status != "BOOK":
                continue  # pending/information lines are not money yet
            amount, ccy = _amount(_find(ntry, "Amt"), where)
            ind = _text(ntry, "CdtDbtInd")
            if ind not in ("CRDT", "DBIT"):
                raise ValueError(f"{where}: CdtDbtInd: expected CRDT or DBIT, got {ind[:10]!r}")
            sign = 1 if ind == "CRDT" else -1
            booked_text = _text(ntry, "BookgDt", "Dt") or _text(ntry, "BookgDt", "DtTm")
            booked = _date(booked_text, f"{where}: BookgDt") if booked_text else None
            ntry_ref = _text(ntry, "AcctSvcrRef") or _text(ntry, "NtryRef")
            txs = [tx for d in _kids(ntry, "NtryDtls") for tx in _kids(d, "TxDtls")]
            if len(txs) <= 1:  # a single transfer: the entry's own amount
                tx = txs[0] if txs else None
                ref = _text(tx, "Refs", "AcctSvcrRef") or ntry_ref
                items = [(tx, amount, ccy, ref or None)]
            else:  # a batch booking: each transfer with its own amount
                items = []
                for t_no, tx in enumerate(txs, start=1):
                    amt_el = _find(tx, "Amt")  # an Element with no children is falsy: no `or`
                    if amt_el is None:
                        amt_el = _find(tx, "AmtDtls", "TxAmt", "Amt")
                    a, c = _amount(amt_el, f"{where}: TxDtls {t_no}")
                    ref = _text(tx, "Refs", "AcctSvcrRef") or (
                        f"{ntry_ref}/{t_no}" if ntry_ref else ""
                    )
                    items.append((tx, a, c, ref or None))
            for tx, a, c, ref in items:
                out.append(
                    StatementEntry(
                        line_no=pos,
                        booked=booked,
                        amount_cents=sign * a,
                        currency=c,
                        remittance=_clean(_remittance(tx) or _text(ntry, "AddtlNtryInf"), 500),
                        counterparty=_clean(_party_name(tx) if tx is not None else "", 200),
                        bank_ref=_clean(ref, 128) or None,
                        account=_clean(acct, 64),
                    )
                )
    return out


def load_statement(data: bytes, name: str, fmt: str = "auto") -> Statement:
    """Parse ``data`` (``fmt``: auto | csv | camt053); ValueError naming what is wrong."""
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"{name}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    if fmt == "auto":
        fmt = "camt053" if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<" else "csv"
    if fmt == "camt053":
        entries = parse_camt053(data, name)
    elif fmt == "csv":
        entries = parse_csv(data, name)
    else:
        raise ValueError(f"format: expected auto, csv or camt053, got {fmt!r}")
    return Statement(fmt, name, hashlib.sha256(data).hexdigest(), with_keys(entries))
