"""Kiosk page, SSE feed and blurred images for public screens (no login: public)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, StreamingResponse

from central.display.blur import blur_person_jpeg
from central.display.feed import UnknownScreen, screen_image_source
from central.evidence import integrity
from central.store.models import Event, Evidence
from central.web.pages import PageRoute
from central.web.state import WebState, web_state

router = APIRouter(prefix="/display", tags=["display"], route_class=PageRoute)
KEEPALIVE_S = 15.0
NO_STORE = {"Cache-Control": "no-store"}


@lru_cache(maxsize=256)
def _blurred_cached(jpeg: bytes, bbox: tuple[object, ...] | None) -> bytes:
    return blur_person_jpeg(jpeg, bbox)


def _blurred(jpeg: bytes, bbox: object) -> bytes:
    # The cache needs a hashable key; anything but a list of scalars is blurred whole.
    key = tuple(bbox) if isinstance(bbox, list | tuple) else None
    if key is not None and not all(isinstance(v, int | float | str | None) for v in key):
        key = None
    return _blurred_cached(jpeg, key)


@router.get("/{screen_id}", response_class=HTMLResponse)
def kiosk(
    *, screen_id: str, request: Request, st: Annotated[WebState, Depends(web_state)]
) -> Response:
    try:
        feed = st.hub.feed(screen_id)
    except UnknownScreen:
        raise HTTPException(404, "no such screen") from None
    return st.templates.TemplateResponse(
        request, "display.html", {"feed": feed, "initial": feed.model_dump_json()}
    )


@router.get("/{screen_id}/feed.json")
def feed_json(*, screen_id: str, st: Annotated[WebState, Depends(web_state)]) -> Response:
    try:
        feed = st.hub.feed(screen_id)
    except UnknownScreen:
        raise HTTPException(404, "no such screen") from None
    return Response(feed.model_dump_json(), media_type="application/json", headers=NO_STORE)


@router.get("/{screen_id}/events")
async def events(
    *, screen_id: str, request: Request, st: Annotated[WebState, Depends(web_state)]
) -> StreamingResponse:
    """Server-sent events: the whole feed now, then again whenever it changes."""
    try:
        first = await run_in_threadpool(st.hub.feed, screen_id)
    except UnknownScreen:
        raise HTTPException(404, "no such screen") from None
    sub = st.hub.subscribe(screen_id, first)

    async def stream() -> AsyncIterator[str]:
        try:
            yield f"retry: 1000\nevent: feed\ndata: {first.model_dump_json()}\n\n"
            while True:
                try:
                    data = await asyncio.wait_for(sub.queue.get(), timeout=KEEPALIVE_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": keepalive\n\n"
                    continue
                yield f"event: feed\ndata: {data}\n\n"
        finally:
            st.hub.unsubscribe(sub)

    headers = {**NO_STORE, "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


def _flag_altered(st: WebState, sha: str) -> None:
    with st.ctx.sessions() as s:
        ids = (
            s.execute(
                sa.select(Event.event_id)
                .join(Evidence, Evidence.event_pk == Event.id)
                .where(Evidence.sha256 == sha)
            )
            .scalars()
            .all()
        )
    for event_id in ids:
        problem = f"display image (sha256 {sha}): ALTERED on disk"
        integrity.record_altered(st.tx, event_id, [problem], "display", "display")


@router.get("/{screen_id}/image/{item_id}.jpg")
def image(*, screen_id: str, item_id: str, st: Annotated[WebState, Depends(web_state)]) -> Response:
    """The entry frame with the person blurred; 404 once the item is withdrawn."""
    altered: list[str] = []

    def load(sha: str) -> bytes:
        try:
            return integrity.read_blob(st.ctx.evidence, sha)
        except integrity.BlobAltered:
            altered.append(sha)
            raise

    try:
        with st.ctx.sessions() as s:
            src = screen_image_source(s, screen_id, item_id, load)
    except integrity.BlobAltered:
        _flag_altered(st, altered[0])
        raise HTTPException(404, "no such item") from None  # a screen shows nothing then
    if src is None:
        raise HTTPException(404, "no such item")
    return Response(_blurred(src.jpeg, src.bbox), media_type="image/jpeg", headers=NO_STORE)
