"""Console audit log: filters, grouped reads, exports with the chain hashes. The reading
and exporting is central.workflow.audit_log's, shared with the API (central/api/audit.py)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from central import audit
from central.web.auth import WebUser, require
from central.web.pages import PageRoute
from central.web.state import WebState, web_state
from central.workflow import audit_log

router = APIRouter(prefix="/console", tags=["console"], route_class=PageRoute)
MAX_ID = 2**31 - 1
Text = Annotated[str, Query(max_length=200)]
Day = Annotated[str | None, Query(max_length=10)]
FromDay = Annotated[str | None, Query(max_length=10, alias="from")]


def _filters(actor: str, action: str, target: str, from_: str | None, to: str | None) -> dict:
    q = {"actor": actor, "action": action, "target": target, "from": from_, "to": to}
    return {k: v for k, v in q.items() if v}


@router.get("/audit")
def audit_page(
    *,
    request: Request,
    actor: Text = "",
    action: Text = "",
    target: Text = "",
    from_: FromDay = None,
    to: Day = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    user: Annotated[WebUser, Depends(require(*audit_log.READ_ROLES))],
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    f = audit_log.parse_filter(actor, action, target, from_, to, before=before, limit=100)
    with st.ctx.sessions() as s:
        report = audit.verify(s)
    with st.tx() as s:
        entries = audit_log.read_entries(s, user.actor, f, via="console")
        groups = audit_log.group(entries)
        s.expunge_all()
    query = _filters(actor, action, target, from_, to)
    older = urlencode({**query, "before": entries[-1].seq}) if len(entries) == f.limit else None
    return st.templates.TemplateResponse(
        request,
        "audit.html",
        {
            "user": user,
            "report": report,
            "groups": groups,
            "f": {"actor": actor, "action": action, "target": target, "from": from_ or "",
                  "to": to or ""},
            "export_query": urlencode(query),
            "older": older,
        },
    )  # fmt: skip


@router.get("/audit/export.{fmt}")
def audit_export(
    *,
    fmt: str,
    actor: Text = "",
    action: Text = "",
    target: Text = "",
    from_: FromDay = None,
    to: Day = None,
    user: Annotated[WebUser, Depends(require(*audit_log.READ_ROLES))],
    st: Annotated[WebState, Depends(web_state)],
) -> Response:
    """Every matching entry with its hashes (verify offline: ``jaywatch central audit
    verify-export FILE``); audited."""
    f = audit_log.parse_filter(actor, action, target, from_, to)
    body = audit_log.export(st.tx, st.ctx.sessions, user.actor, f, fmt, via="console")
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    return StreamingResponse(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="jaywatch-audit.{fmt}"',
            "Cache-Control": "private, no-store",
        },
    )
