"""Offline check of an audit-log export (CSV or JSON from the console or the API), with
no database: every entry's hash is recomputed from its own fields and every link to the
entry before it is checked where both are in the file.

A filtered export (e.g. one actor) has gaps between seqs: those links cannot be checked
from the file and are reported as gaps, not as problems. An export of the whole log
starts at seq 1 on the genesis hash and has no gaps; comparing its last hash with a head
kept elsewhere (``--expect-head``) also detects removed newest entries.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from central.audit import GENESIS, entry_hash


@dataclass
class ExportReport:
    entries: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head: str = ""
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (after seq, next seq)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def complete(self) -> bool:
        """The file holds the chain from its start without a gap."""
        return self.first_seq == 1 and not self.gaps


def _rows(text: str) -> list[dict[str, Any]]:
    if text.lstrip().startswith("{"):
        doc = json.loads(text)
        if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
            raise ValueError('expected a JSON object with an "entries" list')
        return doc["entries"]
    rows = list(csv.DictReader(io.StringIO(text)))
    for r in rows:
        r["details"] = json.loads(r["details"])
    return rows


def verify_text(text: str, expect_head: str | None = None) -> ExportReport:
    rep = ExportReport()
    prev: dict[str, Any] | None = None
    for n, r in enumerate(_rows(text), start=1):
        where = f"entry {n}"
        try:
            seq = int(r["seq"])
            where = f"entry seq {seq}"
            at = datetime.fromisoformat(str(r["at"]))
            details = r["details"]
            if not isinstance(details, dict):
                raise ValueError("details: expected an object")
            h = entry_hash(
                seq, at, str(r["actor"]), str(r["action"]), str(r["target"]), details,
                str(r["prev_hash"]),
            )  # fmt: skip
        except (KeyError, ValueError, TypeError) as e:
            rep.problems.append(f"{where}: unreadable ({e})")
            prev = None
            continue
        rep.entries += 1
        rep.first_seq = seq if rep.first_seq is None else rep.first_seq
        if h != r["hash"]:
            rep.problems.append(f"entry seq {seq}: content does not match its hash (edited)")
        if seq == 1 and r["prev_hash"] != GENESIS:
            rep.problems.append("entry seq 1: does not start on the genesis hash")
        if prev is not None:
            pseq = int(prev["seq"])
            if seq <= pseq:
                rep.problems.append(f"entry seq {seq}: out of order after seq {pseq}")
            elif seq == pseq + 1:
                if r["prev_hash"] != prev["hash"]:
                    rep.problems.append(f"entry seq {seq}: prev_hash does not match seq {pseq}")
            else:
                rep.gaps.append((pseq, seq))
        prev = r
        rep.last_seq, rep.head = seq, str(r["hash"])
    if expect_head is not None and rep.head != expect_head:
        rep.problems.append(f"last hash is {rep.head or 'none'}, expected {expect_head}")
    return rep


def verify_file(path: Path, expect_head: str | None = None) -> ExportReport:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read ({e})") from None
    try:
        return verify_text(text, expect_head)
    except (ValueError, csv.Error) as e:  # JSONDecodeError is a ValueError
        raise ValueError(f"{path}: not an audit export ({e})") from None
