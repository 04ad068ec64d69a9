"""Gallery snapshot endpoints: admins upload a file built by ``jaywatch gallery build``;
devices download a version with the token from its retained announcement.

Download auth: the URL's random per-version token is the credential (a capability URL).
Only central and devices can read the retained announcement (broker ACL), so anonymous
callers cannot fetch the file, which holds face embeddings; no device secret needs to be
shared with the HTTP side. The token is 256 bits, compared in constant time, and every
download is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from central.api import schemas as S
from central.api.deps import get_ctx, require
from central.api.persons import announce
from central.context import Context
from central.workflow import gallery
from central.workflow.common import Actor

router = APIRouter(prefix="/api/gallery", tags=["gallery"])
Ctx = Annotated[Context, Depends(get_ctx)]
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("", response_model=S.GalleryOut, status_code=201)
async def upload(
    request: Request,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(require(*gallery.UPLOAD_ROLES))],
) -> S.GalleryOut:
    """Body: the gallery file (application/octet-stream). 422 names what is wrong,
    including every person id that is not enrolled or was erased. The body's size limit
    (413) is the front door's, counted as it streams: ``http.body_limits["/api/gallery"]``."""
    data = await request.body()

    def store() -> S.GalleryOut:
        with ctx.sessions.begin() as s:
            gv = gallery.upload(s, actor, ctx.evidence, data)
        announce(request, gv)  # after the commit: the announced file is there
        return S.GalleryOut(version=gv.version, sha256=gv.snapshot_sha256)

    return await run_in_threadpool(store)


@router.get(
    "/{version}/{token}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, 404: {}},
)
def download(version: Version, token: str, ctx: Ctx) -> Response:
    with ctx.sessions.begin() as s:
        data = gallery.download(s, ctx.evidence, version, token)
    return Response(data, media_type="application/octet-stream")
