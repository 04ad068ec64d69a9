"""Persons and their enrolment photos: enrol, read (audited), add/list/remove photos,
erase (a new gallery version, announced to the edges)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, HTTPException, Path, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from central.api import schemas as S
from central.api.deps import get_ctx, require
from central.context import Context
from central.gallery_announcer import announcement
from central.store.models import GalleryVersion
from central.workflow import persons, photos
from central.workflow.common import Actor

router = APIRouter(prefix="/api")
PhotoId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Ctx = Annotated[Context, Depends(get_ctx)]
Enroller = Annotated[Actor, Depends(require(*persons.ENROL_ROLES))]
PhotoAdder = Annotated[Actor, Depends(require(*photos.ADD_ROLES))]
MAX_PHOTO_FILES = 20  # per request


def announce(request: Request, gv: GalleryVersion) -> None:
    """Publish ``gv`` (retained) with the app's announcer, if it has one."""
    publish = getattr(request.app.state, "announce_gallery", None)
    if publish is not None:
        ctx: Context = request.app.state.ctx
        publish(announcement(gv, ctx.config.api.base_url))


@router.post("/persons", response_model=S.PersonOut, status_code=201, tags=["persons"])
def enrol(body: S.PersonIn, request: Request, ctx: Ctx, actor: Enroller) -> S.PersonOut:
    with ctx.sessions.begin() as s:
        p = persons.enrol(s, actor, ctx.rules, body.phone, body.lawful_basis, body.name)
        # A new person starts at the configured score.
        return S.PersonOut.model_validate(persons.person_view(p, ctx.rules.score.start))


@router.get("/persons/{person_id}", response_model=S.PersonOut, tags=["persons"])
def read_person(
    person_id: str, ctx: Ctx, actor: Annotated[Actor, Depends(require(*persons.READ_ROLES))]
) -> S.PersonOut:
    with ctx.sessions.begin() as s:
        v = persons.read_person(s, actor, ctx.rules, person_id)
    return S.PersonOut.model_validate(v)


@router.post(
    "/persons/{person_id}/photos",
    response_model=list[S.PhotoOut],
    status_code=201,
    tags=["persons"],
)
async def add_photos(
    person_id: str,
    files: Annotated[list[UploadFile], File(description="JPEG or PNG enrolment photos")],
    ctx: Ctx,
    actor: PhotoAdder,
) -> list[S.PhotoOut]:
    """Enrolment (reference) photos, multipart field ``files`` (repeatable). All or
    nothing: 422 names the first file that is not a decodable JPEG/PNG or is too large."""
    if len(files) > MAX_PHOTO_FILES:
        raise HTTPException(422, f"files: at most {MAX_PHOTO_FILES} photos per request")
    named: list[tuple[str, bytes]] = []
    for i, f in enumerate(files):
        name = f.filename or f"files[{i}]"
        data = await f.read(photos.MAX_PHOTO_BYTES + 1)  # one byte over: "too large"
        named.append((name, data))

    def store() -> list[S.PhotoOut]:
        with ctx.sessions.begin() as s:
            rows = photos.add_photos(s, actor, ctx.evidence, person_id, named)
            return [S.PhotoOut.model_validate(r) for r in rows]

    return await run_in_threadpool(store)


@router.get("/persons/{person_id}/photos", response_model=list[S.PhotoOut], tags=["persons"])
def list_photos(person_id: str, ctx: Ctx, _a: PhotoAdder) -> list[S.PhotoOut]:
    """Metadata of the person's enrolment photos (the images are shown in the console)."""
    with ctx.sessions() as s:
        return [S.PhotoOut.model_validate(r) for r in photos.list_photos(s, person_id)]


@router.delete(
    "/persons/{person_id}/photos/{photo_id}", response_model=S.PhotoOut, tags=["persons"]
)
def remove_photo(person_id: str, photo_id: PhotoId, ctx: Ctx, actor: PhotoAdder) -> S.PhotoOut:
    """Remove one enrolment photo (e.g. a wrong one); its bytes go too unless evidence or
    another photo shares them. 404 for an unknown person or a photo not of this person.
    Returns the removed photo's metadata."""
    with ctx.sessions.begin() as s:
        removed = photos.remove_photo(s, actor, ctx.evidence, person_id, photo_id)
        return S.PhotoOut.model_validate(removed)


@router.delete("/persons/{person_id}", response_model=S.GalleryOut, tags=["persons"])
def erase(person_id: str, request: Request, ctx: Ctx, actor: Enroller) -> S.GalleryOut:
    with ctx.sessions.begin() as s:
        gv = persons.erase(s, actor, person_id, ctx.evidence)
    if gv is None:
        return S.GalleryOut(version=None)
    announce(request, gv)  # after the commit: edges never fetch a version that is not there
    return S.GalleryOut(version=gv.version, sha256=gv.snapshot_sha256)
