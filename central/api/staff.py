"""Staff endpoints. Each one names the roles it allows; reads of personal data are
audited inside the workflow functions they call."""

from __future__ import annotations

from typing import Annotated

from fastapi import (
    APIRouter,
    Depends,
    File,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    UploadFile,
)
from starlette.concurrency import run_in_threadpool

from central.api import schemas as S
from central.api.deps import COOKIE, Caller, caller, get_ctx, require
from central.context import Context
from central.evidence import integrity
from central.evidence.package import build as build_package
from central.frontdoor import client_address, frontdoor
from central.frontdoor.login import attempt_login
from central.gallery_announcer import announcement
from central.store.models import (
    Fine,
    GalleryVersion,
    PersonPhoto,
)
from central.workflow import devices, evidence_read, persons, photos, review
from central.workflow.common import Actor
from central.workflow.users import close_session

router = APIRouter(prefix="/api")
# Bounded integers: anything larger is a 422, never a database overflow.
Limit = Annotated[int, Query(ge=1, le=1000)]
AppealId = Annotated[int, Path(ge=1, le=2**31 - 1)]
PhotoId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Ctx = Annotated[Context, Depends(get_ctx)]


def _event_out(i: review.ReviewItem, verdict: integrity.Verdict | None = None) -> S.EventOut:
    return S.EventOut(
        evidence_altered=None if verdict is None else not verdict.ok,
        evidence_problems=[] if verdict is None else verdict.problems,
        event_id=i.event_id,
        device_id=i.device_id,
        camera_id=i.camera_id,
        occurred=i.occurred,
        received=i.received,
        offence_code=i.offence_code,
        status=i.status,
        match_person_id=i.match_person_id,
        match_score=i.match_score,
        evidence=[role for role, _ in i.evidence],
        signal=i.signal,
        first_confirmed_by=i.first_confirmed_by,
        final_confirmed_by=i.final_confirmed_by,
        undo_until=i.undo_until,
    )


def _fine_out(f: Fine) -> S.FineOut:
    return S.FineOut(
        reference=f.reference,
        status=f.status,
        amount_cents=f.amount_cents,
        currency=f.currency,
        points=f.points,
        due=f.due,
    )


# --- sessions ----------------------------------------------------------------------------


@router.post(
    "/auth/login",
    response_model=S.LoginOut,
    tags=["auth"],
    responses={
        401: {"description": "wrong username or password"},
        429: {"description": "too many attempts for this account or address (Retry-After)"},
        503: {"description": "too many logins being checked at once (Retry-After)"},
    },
)
async def login(body: S.LoginIn, request: Request, response: Response, ctx: Ctx) -> S.LoginOut:
    """Throttled per account and per client address (``http.login_per_*``)."""
    fd = frontdoor(request)
    got = await attempt_login(fd, ctx, client_address(request), body.username, body.password)
    if got.refused is not None:
        status = 503 if got.busy else 429
        raise HTTPException(status, "too many login attempts; try again later", got.refused.headers)
    if got.session is None:
        raise HTTPException(401, "wrong username or password")
    new = got.session
    response.set_cookie(
        COOKIE,
        new.token,
        httponly=True,
        samesite="strict",
        secure=ctx.config.api.secure_cookies,
        max_age=int(ctx.config.api.session_hours * 3600),
    )
    return S.LoginOut(
        token=new.token, csrf_token=new.csrf_token, expires=new.expires, role=got.role
    )


@router.post("/auth/logout", status_code=204, tags=["auth"])
def logout(
    request: Request, response: Response, ctx: Ctx, c: Annotated[Caller, Depends(caller)]
) -> None:
    auth = request.headers.get("authorization", "")
    token = (
        auth[7:].strip() if auth.lower().startswith("bearer ") else request.cookies.get(COOKIE, "")
    )
    with ctx.sessions.begin() as s:
        close_session(s, token)
    response.delete_cookie(COOKIE)


# --- review ------------------------------------------------------------------------------


@router.get("/events/{event_id}", response_model=S.EventOut, tags=["review"])
def get_event(
    event_id: str,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(require("operator", "supervisor", "auditor"))],
) -> S.EventOut:
    with ctx.sessions.begin() as s:
        item = review.read_event(s, actor, event_id)
    verdict = integrity.check(
        ctx.sessions.begin, ctx.sessions, ctx.evidence, event_id, actor.label, "api"
    )
    return _event_out(item, verdict)


@router.get(
    "/events/{event_id}/evidence/{n}",
    tags=["review"],
    responses={200: {"content": {"image/jpeg": {}, "video/webm": {}}}},
    response_class=Response,
)
def get_evidence(
    event_id: str,
    n: Annotated[int, Path(ge=0, le=64)],
    ctx: Ctx,
    actor: Annotated[Actor, Depends(require("operator", "supervisor", "auditor"))],
) -> Response:
    # The console's read too (central/workflow/evidence_read.py): audited {"n", "sha256"}.
    got = evidence_read.read_evidence(ctx.sessions.begin, ctx.evidence, actor, event_id, n, "api")
    return Response(got.data, media_type=got.media_type, headers={"Cache-Control": "no-store"})


@router.get(
    "/evidence-packages/{reference}",
    tags=["review"],
    responses={200: {"content": {"application/zip": {}}}, 409: {"description": "altered"}},
    response_class=Response,
)
def evidence_package(
    reference: str,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(require("operator", "supervisor", "auditor"))],
) -> Response:
    """The evidence package of a fine reference or an event id: a zip with the PDF, the
    signed message, the device key and a standalone verifier (audited). 409 when the
    evidence is altered (nothing is packaged), 404 when unknown or purged."""
    try:
        with ctx.sessions.begin() as s:
            pkg = build_package(s, ctx.evidence, reference, actor.label, "staff (API)")
    except integrity.EvidenceAltered as e:
        integrity.record_altered(ctx.sessions.begin, e.event_id, e.problems, actor.label, "export")
        raise
    return Response(
        pkg.data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{pkg.filename}"',
            "Cache-Control": "no-store",
        },
    )


Operator = Annotated[Actor, Depends(require(*review.REVIEW_ROLES))]


@router.post("/events/{event_id}/confirm", response_model=S.ConfirmOut, tags=["review"])
def confirm(event_id: str, ctx: Ctx, actor: Operator) -> S.ConfirmOut:
    """Confirm a matched violation (review.second_reviewer, review.undo_window_s decide
    whether this issues the fine, starts the undo window, or awaits a second operator)."""
    d = review.confirm_intact(ctx.sessions.begin, ctx.evidence, actor, ctx.rules, event_id)
    return S.ConfirmOut(
        event_id=d.event_id,
        status=d.status,
        fine=_fine_out(d.fine) if d.fine is not None else None,
        undo_until=d.undo_until,
        first_confirmed_by=d.first_confirmed_by,
    )


@router.post("/events/{event_id}/undo", response_model=S.EventOut, tags=["review"])
def undo(event_id: str, ctx: Ctx, actor: Operator) -> S.EventOut:
    """Take back one's own confirmation while its undo window runs (or while it awaits
    the second reviewer): nothing has been issued; the event goes back one step."""
    with ctx.sessions.begin() as s:
        review.undo(s, actor, event_id)
        return _event_out(review.read_event(s, actor, event_id))


@router.post("/events/{event_id}/dismiss", status_code=204, tags=["review"])
def dismiss(event_id: str, body: S.DismissIn, ctx: Ctx, actor: Operator) -> None:
    with ctx.sessions.begin() as s:
        review.dismiss(s, actor, event_id, body.reason)


# --- appeals -----------------------------------------------------------------------------


# --- persons and the gallery ---------------------------------------------------------------


def announce(request: Request, gv: GalleryVersion) -> None:
    """Publish ``gv`` (retained) with the app's announcer, if it has one."""
    publish = getattr(request.app.state, "announce_gallery", None)
    if publish is not None:
        ctx: Context = request.app.state.ctx
        publish(announcement(gv, ctx.config.api.base_url))


@router.post("/persons", response_model=S.PersonOut, status_code=201, tags=["persons"])
def enrol(
    body: S.PersonIn,
    request: Request,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(require(*persons.ENROL_ROLES))],
) -> S.PersonOut:
    with ctx.sessions.begin() as s:
        p = persons.enrol(s, actor, ctx.rules, body.phone, body.lawful_basis, body.name)
        out = S.PersonOut(
            id=p.id,
            name=p.name,
            phone=p.phone,
            lawful_basis=p.lawful_basis,
            enrolled=p.enrolled,
            score=ctx.rules.score.start,
        )
    return out


@router.get("/persons/{person_id}", response_model=S.PersonOut, tags=["persons"])
def read_person(
    person_id: str, ctx: Ctx, actor: Annotated[Actor, Depends(require(*persons.READ_ROLES))]
) -> S.PersonOut:
    with ctx.sessions.begin() as s:
        v = persons.read_person(s, actor, ctx.rules, person_id)
    return S.PersonOut(
        id=v.id,
        name=v.name,
        phone=v.phone,
        lawful_basis=v.lawful_basis,
        enrolled=v.enrolled,
        score=v.score,
    )


def _photo_out(p: PersonPhoto) -> S.PhotoOut:
    return S.PhotoOut(
        id=p.id,
        sha256=p.sha256,
        size=p.size,
        media_type=p.media_type,
        width=p.width,
        height=p.height,
        added=p.added,
    )


MAX_PHOTO_FILES = 20  # per request


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
    actor: Annotated[Actor, Depends(require(*photos.ADD_ROLES))],
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
            return [_photo_out(r) for r in rows]

    return await run_in_threadpool(store)


@router.get("/persons/{person_id}/photos", response_model=list[S.PhotoOut], tags=["persons"])
def list_photos(
    person_id: str, ctx: Ctx, _a: Annotated[Actor, Depends(require(*photos.ADD_ROLES))]
) -> list[S.PhotoOut]:
    """Metadata of the person's enrolment photos (the images are shown in the console)."""
    with ctx.sessions() as s:
        return [_photo_out(r) for r in photos.list_photos(s, person_id)]


@router.delete(
    "/persons/{person_id}/photos/{photo_id}", response_model=S.PhotoOut, tags=["persons"]
)
def remove_photo(
    person_id: str,
    photo_id: PhotoId,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(require(*photos.ADD_ROLES))],
) -> S.PhotoOut:
    """Remove one enrolment photo (e.g. a wrong one); its bytes go too unless evidence or
    another photo shares them. 404 for an unknown person or a photo not of this person.
    Returns the removed photo's metadata."""
    with ctx.sessions.begin() as s:
        return _photo_out(photos.remove_photo(s, actor, ctx.evidence, person_id, photo_id))


@router.delete("/persons/{person_id}", response_model=S.GalleryOut, tags=["persons"])
def erase(
    person_id: str,
    request: Request,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(require(*persons.ENROL_ROLES))],
) -> S.GalleryOut:
    with ctx.sessions.begin() as s:
        gv = persons.erase(s, actor, person_id, ctx.evidence)
    if gv is None:
        return S.GalleryOut(version=None)
    announce(request, gv)  # after the commit: edges never fetch a version that is not there
    return S.GalleryOut(version=gv.version, sha256=gv.snapshot_sha256)


# --- devices, dead letters, audit ----------------------------------------------------------


@router.get("/devices", response_model=list[S.DeviceOut], tags=["devices"])
def list_devices(
    ctx: Ctx, _a: Annotated[Actor, Depends(require("operator", "supervisor", "admin"))]
) -> list[S.DeviceOut]:
    with ctx.sessions() as s:
        return [
            S.DeviceOut(
                id=d.id,
                place=d.place,
                cameras=d.cameras or [],
                disabled=d.disabled,
                last_seen=d.last_seen,
                online=d.online,
                outbox_depth=d.outbox_depth,
            )
            for d in devices.list_devices(s)
        ]


@router.post("/devices", response_model=S.DeviceCreated, status_code=201, tags=["devices"])
def add_device(
    body: S.DeviceIn, ctx: Ctx, actor: Annotated[Actor, Depends(require("admin"))]
) -> S.DeviceCreated:
    key = devices.parse_public_key(body.public_key)
    with ctx.sessions.begin() as s:
        c = devices.register_device(s, actor, body.device_id, key, body.place, body.cameras)
        # Inside the transaction: an unreadable ACL file registers nothing.
        lines = devices.broker_commands(c, ctx.config.broker_acl_file)
    return S.DeviceCreated(
        device_id=c.device_id,
        mqtt_username=c.mqtt_username,
        mqtt_password=c.mqtt_password,
        acl=c.acl(),
        broker_commands=lines,
    )
