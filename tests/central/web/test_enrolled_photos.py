"""The review page puts the matched person's enrolment photos beside the captured face:
reviewers only, every view audited, nothing for an unidentified event, gone after
erasure. SQLite + PostgreSQL (the ``world`` fixture)."""

from __future__ import annotations

import hashlib
import re

import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.store.models import AuditEntry
from central.workflow import persons, photos
from tests.central.helpers import ADMIN
from tests.central.web.util import login
from tests.central.web.world import PHOTOS, World

REFERENCE = PHOTOS / "obama3.jpg"  # another photo of the person in the captured face
# The whole photo (the face crop beside the capture is .../enrolled/N/face.jpg).
ENROLLED = re.compile(r'<img src="(/console/events/[^"]+/enrolled/\d+)\?view=\d+"')


def add_reference(world: World) -> None:
    with world.ctx.sessions.begin() as s:
        photos.add_photos(
            s, ADMIN, world.ctx.evidence, world.person_id, [("obama3.jpg", REFERENCE.read_bytes())]
        )


def reads(world: World) -> list[dict]:
    with world.ctx.sessions() as s:
        return list(
            s.execute(
                sa.select(AuditEntry.details).where(AuditEntry.action == "person.photo_read")
            ).scalars()
        )


def test_operator_sees_reference_beside_capture_and_each_view_is_audited(
    world: World, client: TestClient
) -> None:
    add_reference(world)
    eid = world.ingest(score=0.8123)
    login(client, "olive")
    html = client.get(f"/console/events/{eid}").text
    urls = ENROLLED.findall(html)
    assert urls == [f"/console/events/{eid}/enrolled/0"]
    assert "0.812" in html and world.person_id in html
    assert f"/console/events/{eid}/enrolled/0/face.jpg?view=" in html
    r = client.get(urls[0])  # without the page's view id: audited on its own
    assert r.status_code == 200 and r.content == REFERENCE.read_bytes()
    assert r.headers["content-type"] == "image/jpeg" and "no-store" in r.headers["cache-control"]
    assert client.get(f"/console/events/{eid}/enrolled/1").status_code == 404
    (detail,) = reads(world)
    assert (
        detail["event"] == eid
        and detail["sha256"] == hashlib.sha256(REFERENCE.read_bytes()).hexdigest()
    )


def test_supervisor_sees_it_auditor_does_not(world: World, client: TestClient) -> None:
    add_reference(world)
    eid = world.ingest()
    login(client, "aud")
    html = client.get(f"/console/events/{eid}").text
    assert ENROLLED.findall(html) == [] and "shown to reviewers only" in html
    assert client.get(f"/console/events/{eid}/enrolled/0").status_code == 403
    login(client, "sam")
    r = client.get(f"/console/events/{eid}/enrolled/0")
    assert r.status_code == 200 and r.content == REFERENCE.read_bytes()
    assert len(reads(world)) == 1  # only the image actually served


def test_unidentified_event_shows_no_enrolment_photo(world: World, client: TestClient) -> None:
    add_reference(world)
    eid = world.ingest(matched=False)
    login(client, "olive")
    html = client.get(f"/console/events/{eid}").text
    assert ENROLLED.findall(html) == [] and "No match" in html
    assert client.get(f"/console/events/{eid}/enrolled/0").status_code == 404
    assert reads(world) == []


def test_after_erasure_nothing_is_left_to_show(world: World, client: TestClient) -> None:
    add_reference(world)
    eid = world.ingest()
    with world.ctx.sessions.begin() as s:
        persons.erase(s, ADMIN, world.person_id, world.ctx.evidence)
    login(client, "olive")
    html = client.get(f"/console/events/{eid}").text  # now unidentified
    assert ENROLLED.findall(html) == []
    assert client.get(f"/console/events/{eid}/enrolled/0").status_code == 404
