"""The appeal procedure through the shipped entry point: ``jaywatch central serve`` from
config/central.example.yaml (+ ``appeals.second_level: true``, the one key this test is
about) and config/notices.example.yaml with an HTTP SMS gateway, on SQLite and
PostgreSQL. The window starts at the signed delivery receipt; hostile files are refused
over HTTP and leave nothing behind; the statement and files come back to the person and
reach the supervisor, served with safe headers; every state shows on both sides; the
reasons really are in the SMS; a second review goes to another supervisor; a fine voided
on appeal never reads "Decided: confirmed"."""

from __future__ import annotations

import base64
import io
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml
from babel.dates import format_date
from PIL import Image
from reportlab.pdfgen import canvas

from central.notices.api import http_signature
from central.store.models import Appeal, AppealAttachment, Event, Fine
from tests.central.notices.gateway import JsonGateway
from tests.central.notices.test_serve_links import (
    SECRET,
    issue_fine,
    notices_yaml,
    post_http_receipt,
    send_notices,
)
from tests.integration.central_serve import CentralServe, acl_broker
from tests.services import Broker

pytestmark = pytest.mark.timeout(600)


def jpeg(w: int = 80, h: int = 60) -> bytes:
    img = Image.new("RGB", (w, h), (20, 120, 200))
    buf = io.BytesIO()
    img.save(buf, "JPEG")
    return buf.getvalue()


def pdf() -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawString(72, 720, "Repair report: signal head 3 was dark on that day")
    c.showPage()
    c.save()
    return buf.getvalue()


@pytest.fixture
def gateway() -> Iterator[JsonGateway]:
    gw = JsonGateway()
    yield gw
    gw.close()


@pytest.fixture
def central(
    tmp_path: Path, db_url: str, make_broker: Callable[..., Broker], gateway: JsonGateway
) -> Iterator[CentralServe]:
    srv = CentralServe(tmp_path / "central", acl_broker(make_broker, ["gw-1"]), db_url)
    cfg = yaml.safe_load(srv.config.read_text())
    assert cfg["appeals"]["second_level"] is False  # shipped default
    cfg["appeals"]["second_level"] = True
    # about appeals: one confirmation issues the fine at once (four-eyes and the undo
    # window through serve: tests/integration/test_four_eyes_serve.py)
    cfg["review"].update(second_reviewer="never", undo_window_s=0)
    srv.config.write_text(yaml.safe_dump(cfg))
    srv.serve_args = ["--notices-config", str(notices_yaml(tmp_path, srv.port, gateway))]
    srv.setup({}, {"olive": "operator", "sam": "supervisor", "sue": "supervisor"})
    try:
        yield srv.start()
    finally:
        srv.stop()


def citizen(srv: CentralServe, path: str, ref: str, code: str, **kw) -> httpx.Response:  # type: ignore[no-untyped-def]
    data = {"reference": ref, "code": code, **kw.pop("data", {})}
    return httpx.post(f"{srv.url}{path}", data=data, timeout=60, **kw)


def appeal_form(srv: CentralServe, ref: str, code: str, files: list) -> httpx.Response:  # type: ignore[type-arg]
    return citizen(
        srv, "/notice/appeal", ref, code, data={"statement": "The signal was dark."}, files=files
    )


def csrf(page: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m is not None
    return m.group(1)


def test_appeal_from_delivery_to_second_review(central: CentralServe, gateway: JsonGateway) -> None:
    ref = issue_fine(central)
    send_notices(central)
    (sms,) = gateway.sms
    code = re.search(r"code ([A-Z0-9]+)", sms["text"]).group(1)  # type: ignore[union-attr]
    body = b'{"message_id": "gw-1", "status": "delivered"}'
    r = post_http_receipt(central, body, http_signature(SECRET, int(time.time()), body))
    assert r.status_code == 200, r.text

    page = citizen(central, "/notice", ref, code)
    assert page.status_code == 200
    assert "28 days from the delivery of your SMS" in page.text  # the window, and its basis

    # Hostile files: each refused with one message naming it; nothing is kept.
    big = 5 * 1024 * 1024 + 1
    hostile = [
        (
            [("files", ("virus.jpg", b"MZ\x90\x00" + bytes(100), "image/jpeg"))],
            "virus.jpg: not a JPEG, PNG or PDF by its content",
        ),
        ([("files", ("empty.png", b"", "image/png"))], "empty.png: empty file"),
        (
            [("files", ("huge.jpg", b"\xff\xd8\xff" + bytes(big), "image/jpeg"))],
            "huge.jpg: larger than the limit of 5242880 bytes",
        ),
        (
            [("files", ("poly.pdf", pdf() + b"<html><script>x()</script>", "application/pdf"))],
            "poly.pdf: not a complete PDF",
        ),
        (
            [("files", (f"p{i}.jpg", jpeg(), "image/jpeg")) for i in range(6)],
            "attachments: 6 files, at most 5 allowed",
        ),
    ]
    for files, message in hostile:
        r = appeal_form(central, ref, code, files)
        assert r.status_code == 409, (message, r.status_code)
        assert message in r.text.replace("&#39;", "'"), message
    # The same checks behind the API (JSON, base64).
    api = f"{central.url}/api/public/appeal"
    access = {"reference": ref, "code": code, "grounds": "The signal was dark."}
    r = httpx.post(
        api, json={**access, "attachments": [{"filename": "a.jpg", "content_base64": "%%"}]}
    )
    assert r.status_code == 422 and "attachments[1] (a.jpg): content_base64 is not base64" in r.text
    junk = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"junk" * 50).decode()
    r = httpx.post(
        api, json={**access, "attachments": [{"filename": "b.png", "content_base64": junk}]}
    )
    assert r.status_code == 422 and "b.png: not a readable PNG image" in r.text
    assert central.rows(sa.select(Appeal.id)) == []
    assert central.rows(sa.select(AppealAttachment.id)) == []

    # A real appeal with a photo and a PDF (named and typed wrongly: content decides).
    good = [
        ("files", ("photo.pdf", jpeg(), "application/pdf")),
        ("files", ("report.bin", pdf(), "application/octet-stream")),
    ]
    r = appeal_form(central, ref, code, good)
    assert r.status_code == 200, r.text[-2000:]
    assert "Your appeal has been received" in r.text
    assert 'id="appeal-1-state">submitted<' in r.text
    assert "The signal was dark." in r.text  # the statement, shown back
    assert 'src="data:image/jpeg;base64,' in r.text  # the photo, inlined
    assert "Download report.bin" in r.text
    assert "Paused while your appeal is decided" in r.text
    assert 'id="pay-while-appeal"' in r.text  # paying is explained, not silently offered
    # The appeal history in the citizen's language (docs/i18n.md), with the statement and
    # file names left as the person wrote them.
    for lang, state, heading, download in (
        ("el", "υποβλήθηκε", "Η δήλωσή σας:", "Λήψη report.bin"),
        ("ar", "مُقدَّم", "أقوالك:", "تنزيل report.bin"),
    ):
        page = citizen(central, f"/notice?lang={lang}", ref, code).text
        assert f'id="appeal-1-state">{state}<' in page, lang
        assert heading in page and download in page and "The signal was dark." in page, lang
        assert "Your statement:" not in page and "Sent " not in page, lang
    ((appeal_id,),) = central.rows(sa.select(Appeal.id))
    types = central.rows(
        sa.select(AppealAttachment.position, AppealAttachment.media_type).order_by(
            AppealAttachment.position
        )
    )
    assert [tuple(t) for t in types] == [(1, "image/jpeg"), (2, "application/pdf")]

    # The person downloads their PDF: a download, its checked type, never sniffed.
    f = citizen(
        central, "/notice/appeal/file", ref, code, data={"appeal_id": appeal_id, "position": 2}
    )
    assert (
        f.status_code == 200
        and f.content == pdf()[:0] + f.content
        and f.content.startswith(b"%PDF-")
    )
    assert f.headers["content-type"] == "application/pdf"
    assert f.headers["content-disposition"].startswith("attachment;")
    assert f.headers["x-content-type-options"] == "nosniff"
    # Another fine's code cannot read it (same answer as a wrong code).
    wrong = citizen(
        central,
        "/notice/appeal/file",
        ref,
        "WRONGCODE",
        data={"appeal_id": appeal_id, "position": 2},
    )
    assert wrong.status_code == 403 and b"%PDF" not in wrong.content

    # The supervisor sees statement and files, served safely.
    sam = central.console("sam")
    ap = sam.get(f"/console/appeals/{appeal_id}")
    assert ap.status_code == 200
    assert "The signal was dark." in ap.text and "report.bin" in ap.text
    img = sam.get(f"/console/appeals/{appeal_id}/files/1")
    assert img.headers["content-type"] == "image/jpeg"
    assert img.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in img.headers["content-security-policy"]
    Image.open(io.BytesIO(img.content)).verify()
    doc = sam.get(f"/console/appeals/{appeal_id}/files/2")
    assert doc.headers["content-disposition"].startswith("attachment;")  # PDFs: download only
    r = sam.post(f"/console/appeals/{appeal_id}/review", data={"csrf_token": csrf(ap.text)})
    assert r.status_code in (200, 303)
    page = citizen(central, "/notice", ref, code)
    assert 'id="appeal-1-state">under review<' in page.text

    # Denied with reasons: a new due date; the SMS carries the reasons.
    ap = sam.get(f"/console/appeals/{appeal_id}")
    assert 'id="appeal-state">under review<' in ap.text
    reasons = "Signal log shows red for 4.2 s; head 3 was lit."
    r = sam.post(
        f"/console/appeals/{appeal_id}/decide",
        data={"csrf_token": csrf(ap.text), "decision": "deny", "note": reasons},
    )
    assert r.status_code in (200, 303)
    send_notices(central)
    denied = [m["text"] for m in gateway.sms if "denied" in m["text"]]
    assert len(denied) == 1 and reasons in denied[0], gateway.sms
    ((due,),) = central.rows(sa.select(Fine.due))
    assert due.date().isoformat() in denied[0]
    page = citizen(central, "/notice", ref, code)
    assert 'id="appeal-1-state">denied<' in page.text and reasons in page.text
    assert f"New due date: {format_date(due.date(), 'long', locale='en')}." in page.text
    assert 'id="contest-until"' in page.text  # second-level review offered
    api = httpx.post(
        f"{central.url}/api/public/notice", json={"reference": ref, "code": code}, timeout=30
    ).json()
    assert api["appeals"][0]["reasons"] == reasons and api["can_contest"] is True

    # The person contests; the supervisor who denied may not decide it.
    r = citizen(central, "/notice/appeal", ref, code, data={"statement": "A bus hid the signal."})
    assert r.status_code == 200 and "second review has been received" in r.text
    ((second_id,),) = central.rows(sa.select(Appeal.id).where(Appeal.level == 2))
    ap = sam.get(f"/console/appeals/{second_id}")
    assert "A bus hid the signal." in ap.text and "The signal was dark." in ap.text  # history
    r = sam.post(
        f"/console/appeals/{second_id}/decide",
        data={"csrf_token": csrf(ap.text), "decision": "uphold", "note": "Mine to undo."},
        follow_redirects=True,
    )
    assert "another supervisor" in r.text
    ((status,),) = central.rows(sa.select(Appeal.status).where(Appeal.id == second_id))
    assert status == "pending"
    sue = central.console("sue")
    ap = sue.get(f"/console/appeals/{second_id}")
    upheld = "The bus in the stills covers the signal head."
    r = sue.post(
        f"/console/appeals/{second_id}/decide",
        data={"csrf_token": csrf(ap.text), "decision": "uphold", "note": upheld},
    )
    assert r.status_code in (200, 303)
    send_notices(central)
    (text,) = [m["text"] for m in gateway.sms if "upheld" in m["text"]]
    assert upheld in text
    page = citizen(central, "/notice", ref, code)
    assert "Cancelled (void): appeal upheld" in page.text and upheld in page.text
    assert 'id="appeal-2-state">upheld<' in page.text

    # Staff pages of the event: voided on appeal, never "Decided: confirmed".
    ((event_id,),) = central.rows(sa.select(Event.event_id))
    ev = sam.get(f"/console/events/{event_id}")
    assert ev.status_code == 200
    assert "Decided: confirmed" not in ev.text
    assert "voided on appeal" in ev.text


def test_an_appeal_after_the_window_is_refused(central: CentralServe, gateway: JsonGateway) -> None:
    ref = issue_fine(central)
    send_notices(central)
    code = re.search(r"code ([A-Z0-9]+)", gateway.sms[0]["text"]).group(1)  # type: ignore[union-attr]
    # The notice went out 29 days ago (the shipped window is 28 days).
    eng = sa.create_engine(central.db_url)
    try:
        with eng.begin() as c:
            c.execute(sa.text("UPDATE notices SET sent_at = :t"), {"t": _days_ago(29)})
            c.execute(sa.text("UPDATE fines SET issued = :t"), {"t": _days_ago(29)})
    finally:
        eng.dispose()
    page = citizen(central, "/notice", ref, code)
    assert 'id="appeal-closed"' in page.text and 'id="appeal-form"' not in page.text
    r = appeal_form(central, ref, code, [])
    assert r.status_code == 409
    assert "the time to appeal ended on" in r.text and "28 days after the notice was sent" in r.text
    assert central.rows(sa.select(Appeal.id)) == []


def _days_ago(days: int):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(days=days)).replace(tzinfo=None)
