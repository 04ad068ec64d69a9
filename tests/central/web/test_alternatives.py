"""The matcher's runner-ups (issue 17) at central: stored with a match only, persons
enrolled here only; shown on the console's face comparison (ids and scores to whoever
sees the match, photos to reviewers), listed in the page view's one audit entry; never
on the citizen page, the display, an SMS or a CSV export; gone with the event's
identification data (erasure, retention). SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import re
import zipfile

import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image

from central.config import RetentionSettings
from central.retention import run_purge
from central.store.models import AuditEntry, Event, Notice
from central.workflow import photos
from central.workflow.persons import enrol, erase
from tests.central.helpers import ADMIN
from tests.central.web.util import confirm, login
from tests.central.web.world import World
from tests.edge.faces.helpers import PHOTOS as FACE_PHOTOS

GHOST = "p-not-enrolled-here"


def _runner_ups(world: World) -> tuple[str, str]:
    """Two more enrolled persons with a real enrolment photo each."""
    ids = []
    with world.ctx.sessions.begin() as s:
        for name, phone in (("biden", "+447911000001"), ("astronaut", "+447911000002")):
            p = enrol(s, ADMIN, world.ctx.rules, phone, "road traffic act s.12", name=name)
            photo = FACE_PHOTOS / f"{name}.jpg"
            photos.add_photos(
                s, ADMIN, world.ctx.evidence, p.id, [(photo.name, photo.read_bytes())]
            )
            ids.append(p.id)
    return ids[0], ids[1]


def _stored(world: World, event_id: str) -> Event:
    with world.ctx.sessions() as s:
        return s.execute(sa.select(Event).where(Event.event_id == event_id)).scalar_one()


def _event(world: World) -> tuple[str, str, str]:
    b, c = _runner_ups(world)
    eid = world.ingest(score=0.81, alternatives=[(b, 0.34), (GHOST, 0.2), (c, 0.12)])
    return eid, b, c


def test_stored_with_the_match_unknown_ids_left_out(world: World) -> None:
    eid, b, c = _event(world)
    e = _stored(world, eid)
    assert e.status == "pending_review"
    assert e.match_alternatives == [
        {"person_id": b, "score": 0.34},
        {"person_id": c, "score": 0.12},
    ]
    assert "alternatives" not in e.payload["match"]  # the signed message keeps them
    plain = world.ingest(score=0.8)  # a gateway with faces.alternatives: 0, or an older one
    assert _stored(world, plain).match_alternatives is None


def test_unidentified_violation_never_gets_alternatives(world: World) -> None:
    """A match naming nobody enrolled here is an unidentified violation: the runner-ups a
    (hostile) gateway sent with it are not kept, so nobody is identified after the fact."""
    b, _c = _runner_ups(world)
    eid = world.ingest(person_id="p-unknown", alternatives=[(b, 0.3)])
    e = _stored(world, eid)
    assert e.status == "unidentified" and e.match_alternatives is None


def test_console_shows_them_to_reviewers_with_photos_and_one_audit_entry(
    world: World, client: TestClient
) -> None:
    eid, b, c = _event(world)
    login(client, "olive")
    html = client.get(f"/console/events/{eid}").text
    alts = html[html.index('id="alternatives"') :]
    assert alts.index(b) < alts.index(c) and GHOST not in html
    assert "0.340" in alts and "0.470 below the match" in alts and "0.690 below the match" in alts
    assert "below the threshold" in alts
    assert re.search(r'id="lead">0\.470', html)
    assert "never moved to another candidate" in html
    assert not re.search(r"<form[^>]*alternatives", html)  # nothing to act on: confirm/reject only
    urls = re.findall(r'src="(/console/events/[^"]+/alternatives/\d+/photo\?view=(\d+))"', alts)
    assert len(urls) == 2
    with world.ctx.sessions() as s:
        seq = max(int(v) for _u, v in urls)
        entry = s.execute(sa.select(AuditEntry).where(AuditEntry.seq == seq)).scalar_one()
        pb = photos.list_photos(s, b)[0]
    assert entry.action == "event.read"
    assert entry.details["alternatives"] == [
        {"n": 0, "person_id": b, "sha256": pb.sha256},
        {"n": 1, "person_id": c, "sha256": entry.details["alternatives"][1]["sha256"]},
    ]
    before = _count(world)
    for url, _v in urls:
        r = client.get(url)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        face = Image.open(io.BytesIO(r.content))
        whole = Image.open(
            FACE_PHOTOS / ("biden.jpg" if url.endswith(f"0/photo?view={_v}") else "astronaut.jpg")
        )
        assert face.width < whole.width  # the face crop, not the whole photo
    assert _count(world) == before  # covered by the page view's entry
    assert client.get(urls[0][0].split("?")[0]).status_code == 200  # direct link: audited
    assert _count(world) == before + 1
    assert client.get(f"/console/events/{eid}/alternatives/2/photo").status_code == 404


def _count(world: World) -> int:
    with world.ctx.sessions() as s:
        return s.execute(sa.select(sa.func.count(AuditEntry.seq))).scalar_one()


def test_auditor_sees_ids_and_scores_but_no_photos(world: World, client: TestClient) -> None:
    eid, b, _c = _event(world)
    login(client, "aud")
    html = client.get(f"/console/events/{eid}").text
    assert b in html and "shown to reviewers only" in html
    assert "/alternatives/0/photo" not in html
    assert client.get(f"/console/events/{eid}/alternatives/0/photo").status_code == 403


def test_never_on_citizen_page_display_sms_or_exports(world: World, client: TestClient) -> None:
    eid, b, c = _event(world)
    login(client, "olive")
    ref = confirm(client, eid)
    code = world.access_code(ref)
    client.cookies.clear()
    notice = client.post("/notice", data={"reference": ref, "code": code})
    assert notice.status_code == 200 and ref in notice.text
    display = client.get("/display/gw-main/feed.json")
    assert display.status_code == 200 and display.json()["items"]
    screen = client.get("/display/gw-main")
    with world.ctx.sessions() as s:
        sms = json.dumps([[n.params, n.kind] for n in s.execute(sa.select(Notice)).scalars()])
    login(client, "sam")
    exports = [client.get(f"/console/exports/{k}.csv") for k in ("events", "fines")]
    assert [r.status_code for r in exports] == [200, 200]
    assert eid in exports[0].text and eid in exports[1].text  # the case is in both
    for where, text in [("notice", notice.text), ("display feed", display.text),
                        ("display page", screen.text), ("sms", sms),
                        *((f"export {i}", r.text) for i, r in enumerate(exports))]:  # fmt: skip
        for pid in (b, c):
            assert pid not in text, where
        # the runner-up's score, not a timestamp's fraction such as "10.349"
        assert not re.search(r"(?<![\d.])0\.34", text), where
        assert "candidate" not in text.lower(), where
    # The person's package: the PDF names no other person (the signed message inside it
    # carries what the gateway signed: it must, or it would not verify).
    client.cookies.clear()
    pkg = client.post("/notice/package", data={"reference": ref, "code": code})
    assert pkg.status_code == 200
    z = zipfile.ZipFile(io.BytesIO(pkg.content))
    pdf = next(n for n in z.namelist() if n.endswith(".pdf"))
    assert b.encode() not in z.read(pdf)


def test_staff_package_lists_them_in_the_pdf_facts(world: World, client: TestClient) -> None:
    eid, b, _c = _event(world)
    login(client, "olive")
    r = client.get(f"/console/events/{eid}/package.zip")
    assert r.status_code == 200
    z = zipfile.ZipFile(io.BytesIO(r.content))
    message = next(n for n in z.namelist() if n.endswith(".json") and "message" in n)
    signed = json.loads(z.read(message))
    assert [a["person_id"] for a in signed["match"]["alternatives"]] == [b, GHOST, _c]


def test_erasure_takes_a_person_out_of_every_list(world: World, client: TestClient) -> None:
    eid, b, c = _event(world)
    mine = world.ingest(score=0.7, person_id=b, alternatives=[(world.person_id, 0.3)])
    with world.ctx.sessions.begin() as s:
        erase(s, ADMIN, b, world.ctx.evidence)
    assert _stored(world, eid).match_alternatives == [{"person_id": c, "score": 0.12}]
    gone = _stored(world, mine)  # b was the match: unidentified, with nothing left
    assert gone.status == "unidentified" and gone.match_alternatives is None
    login(client, "olive")
    html = client.get(f"/console/events/{eid}").text
    assert b not in html and c in html


def test_retention_takes_them_with_the_evidence(world: World, client: TestClient) -> None:
    from central.workflow import payments
    from central.workflow.common import Actor

    eid, _b, _c = _event(world)
    login(client, "olive")
    ref = confirm(client, eid)
    with world.ctx.sessions.begin() as s:
        payments.record_staff_payment(s, Actor("cam", "cashier", None), ref, 3000, "EUR", "R-1")
    keep = RetentionSettings(dead_letters_days=None, unidentified_events_days=None,
                             dismissed_events_days=None, closed_fine_evidence_days=0,
                             sessions_days=None)  # fmt: skip
    counts = run_purge(world.ctx.sessions, world.ctx.evidence, keep)
    assert counts["closed_fine_evidence"] >= 1
    e = _stored(world, eid)
    assert e.match_alternatives is None and e.message_sha256 is None
