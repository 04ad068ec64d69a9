"""Console queue pages (central/web/queue.py) through the app, SQLite and PostgreSQL:
filters and pages as links, case claims between two operators (a page, not a bare 409),
unidentified statistics with no image or person, HTML error pages with navigation
while the API keeps JSON."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.store.models import AuditEntry, Event
from tests.central.web.util import csrf_of, login
from tests.central.web.world import PERSON_NAME, World

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def _row_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-event="([^"]+)"', html)


def test_queue_filters_pages_and_history_are_links(world: World, client: TestClient) -> None:
    ids = [world.ingest(occurred=T0 + timedelta(minutes=i), score=0.5 + i / 200) for i in range(60)]
    other = world.ingest(occurred=T0, camera_id="cam-2")
    login(client, "sam")
    first = client.get("/console/queue")
    assert first.status_code == 200
    assert "(61 waiting for review)" in first.text
    assert _row_ids(first.text) == [ids[0], other, *ids[1:49]]
    nxt = re.search(r'href="(/console/queue\?after=[^"]+)" id="next-page"', first.text)
    assert nxt
    second = client.get(nxt.group(1).replace("&amp;", "&"))
    assert _row_ids(second.text) == ids[49:] and 'id="next-page"' not in second.text
    assert 'id="first-page"' in second.text
    cam2 = client.get("/console/queue", params={"camera": "gw-main/cam-2"})
    assert _row_ids(cam2.text) == [other]
    band = client.get("/console/queue", params={"score_min": "0.705", "sort": "score_high"})
    assert _row_ids(band.text) == [other, *reversed(ids[41:])]  # 0.5 + i/200 >= 0.705
    rows = client.get("/console/queue/rows", params={"camera": "gw-main/cam-2"})
    assert rows.headers["x-queue-total"] == "1" and _row_ids(rows.text) == [other]
    by_name = client.get("/console/queue", params={"q": PERSON_NAME.split()[1][:5]})
    assert len(_row_ids(by_name.text)) == 50
    bad = client.get("/console/queue", params={"date_from": "yesterday"})
    assert bad.status_code == 422 and "date_from" in bad.text and "<nav" in bad.text
    # Decide one as an operator; the history shows who, with the reason's words.
    client.post("/console/logout", data={"csrf_token": csrf_of(first.text)})
    login(client, "olive")
    page = client.get(f"/console/events/{ids[0]}")
    client.post(
        f"/console/events/{ids[0]}/dismiss",
        data={"csrf_token": csrf_of(page.text), "reason": "wrong_person"},
    )
    hist = client.get("/console/queue", params={"status": "decided", "sort": "decided"})
    assert _row_ids(hist.text) == [ids[0]]
    assert "Wrong person (the face match is wrong)" in hist.text and "wrong_person" not in hist.text


def test_second_operator_gets_a_page_saying_who_reviews(world: World) -> None:
    a = world.ingest(occurred=T0)
    b = world.ingest(occurred=T0 + timedelta(minutes=1))
    olive, otto = TestClient(world.app), TestClient(world.app)
    login(olive, "olive")
    login(otto, "otto")
    mine = olive.get(f"/console/events/{a}")
    assert mine.status_code == 200 and "You are reviewing this case" in mine.text
    theirs = otto.get(f"/console/events/{a}")
    assert theirs.status_code == 409 and "text/html" in theirs.headers["content-type"]
    assert "Being reviewed by <strong>olive</strong>" in theirs.text
    assert 'href="/console/next"' in theirs.text and 'href="/console/queue"' in theirs.text
    queue = otto.get("/console/queue")
    assert "Being reviewed by olive" in queue.text
    # A forged decision by the other operator: the same page, nothing decided.
    token = csrf_of(otto.get("/console/queue").text)
    r = otto.post(f"/console/events/{a}/confirm", data={"csrf_token": token})
    assert r.status_code == 409 and "Being reviewed by <strong>olive</strong>" in r.text
    renew = otto.post(f"/console/events/{a}/claim", data={"csrf_token": token})
    assert renew.status_code == 409 and renew.json()["claimed_by"] == "olive"
    # "Next" skips the claimed case.
    nxt = otto.get("/console/next", follow_redirects=False)
    assert nxt.headers["location"] == f"/console/events/{b}"
    # Olive leaves without deciding: the case is free again.
    released = olive.post(f"/console/events/{a}/release", data={"csrf_token": csrf_of(mine.text)})
    assert released.json() == {"released": True}
    assert otto.get(f"/console/events/{a}").status_code == 200
    with world.ctx.sessions() as s:
        status = s.execute(sa.select(Event.status).where(Event.event_id == a)).scalar_one()
        actions = list(s.execute(sa.select(AuditEntry.action)).scalars())
    assert status == "pending_review"
    # olive takes a, otto b (next), otto a once released; renewals are not audited
    assert actions.count("event.claim") == 3 and actions.count("event.release") == 1


def test_unidentified_page_counts_and_bulk_dismisses_without_images(
    world: World, client: TestClient
) -> None:
    u = [world.ingest(matched=False, occurred=T0 + timedelta(hours=i)) for i in range(3)]
    world.ingest(occurred=T0)
    login(client, "olive")
    page = client.get("/console/unidentified")
    assert page.status_code == 200 and '<dd id="u-total">3</dd>' in page.text
    assert (
        "<img" not in page.text and "/evidence/" not in page.text and PERSON_NAME not in page.text
    )
    r = client.post(
        "/console/unidentified/dismiss",
        data={"csrf_token": csrf_of(page.text), "reason": "poor_evidence", "note": "fog"},
    )
    assert r.status_code == 200 and "Dismissed 3 unidentified violations" in r.text
    with world.ctx.sessions() as s:
        left = s.execute(sa.select(sa.func.count()).where(Event.status == "unidentified")).scalar()
        entry = s.execute(
            sa.select(AuditEntry).where(AuditEntry.action == "event.bulk_dismiss")
        ).scalar_one()
    assert left == 0 and sorted(entry.details["events"]) == sorted(u)
    forged = client.post("/console/unidentified/dismiss", data={"reason": "other", "note": "x"})
    assert forged.status_code == 403 and "<nav" in forged.text


def test_error_pages_are_html_with_navigation_and_the_api_stays_json(
    world: World, client: TestClient
) -> None:
    login(client, "aud")
    forbidden = client.get("/console/queue")
    assert forbidden.status_code == 403 and "text/html" in forbidden.headers["content-type"]
    assert 'href="/console"' in forbidden.text and "Not allowed" in forbidden.text
    missing = client.get("/console/events/no-such-event")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    nowhere = client.get("/console/no-such-page")
    assert (
        nowhere.status_code == 404 and "There is no page at /console/no-such-page" in nowhere.text
    )
    citizen = TestClient(world.app).get("/notice/no-such")
    assert citizen.status_code in (404, 405) and 'href="/notice"' in citizen.text
    api = client.get("/api/events/no-such-event")
    assert api.status_code in (401, 404) and api.headers["content-type"] == "application/json"
