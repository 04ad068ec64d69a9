"""The audit log over the API: the same reading (itself audited) and exports as the
console's page (central/web/audit.py), from central.workflow.audit_log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse

from central import audit
from central.api import schemas as S
from central.api.deps import get_ctx, require
from central.context import Context
from central.workflow import audit_log
from central.workflow.common import Actor

router = APIRouter(prefix="/api", tags=["audit"])
Ctx = Annotated[Context, Depends(get_ctx)]
Auditor = Annotated[Actor, Depends(require(*audit_log.READ_ROLES))]
Seq = Annotated[int, Query(ge=0, le=2**31 - 1)]
Text = Annotated[str, Query(max_length=200)]
From = Annotated[str | None, Query(max_length=10, alias="from", description="YYYY-MM-DD UTC")]
To = Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD UTC, inclusive")]


@router.get("/audit", response_model=list[S.AuditOut])
def audit_entries(
    ctx: Ctx,
    actor: Auditor,
    after_seq: Seq = 0,
    limit: Annotated[int, Query(ge=1, le=audit_log.MAX_PAGE)] = 100,
    by: Annotated[str, Query(max_length=128, description="exact actor, e.g. operator:olive")] = "",
    action: Annotated[str, Query(max_length=64, description="prefix, e.g. event.")] = "",
    target: Annotated[str, Query(max_length=200, description="prefix, e.g. event:ID")] = "",
    from_: From = None,
    to: To = None,
) -> list[S.AuditOut]:
    """Entries after ``after_seq``, oldest first, filtered; the read is audited."""
    f = audit_log.parse_filter(by, action, target, from_, to, after=after_seq, limit=limit)
    with ctx.sessions.begin() as s:
        rows = audit_log.read_entries(s, actor, f, via="api", newest_first=False)
        return [
            S.AuditOut(
                seq=e.seq, at=e.at, actor=e.actor, action=e.action, target=e.target,
                details=e.details, prev_hash=e.prev_hash, hash=e.hash,
            )
            for e in rows
        ]  # fmt: skip


@router.get(
    "/audit/export.{fmt}",
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
    response_class=StreamingResponse,
)
def audit_export(
    fmt: Annotated[str, Path(pattern="^(csv|json)$")],
    ctx: Ctx,
    actor: Auditor,
    by: Text = "",
    action: Text = "",
    target: Text = "",
    from_: From = None,
    to: To = None,
) -> StreamingResponse:
    """Every matching entry with ``prev_hash`` and ``hash``, oldest first, streamed, for
    ``jaywatch central audit verify-export FILE``; audited (``audit.export``)."""
    f = audit_log.parse_filter(by, action, target, from_, to)
    body = audit_log.export(ctx.sessions.begin, ctx.sessions, actor, f, fmt, via="api")
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8" if fmt == "csv" else "application/json",
        headers={
            "Content-Disposition": f'attachment; filename="jaywatch-audit.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/audit/verify", response_model=S.AuditVerifyOut)
def audit_verify(ctx: Ctx, _a: Auditor) -> S.AuditVerifyOut:
    with ctx.sessions() as s:
        r = audit.verify(s)
    return S.AuditVerifyOut(ok=r.ok, entries=r.entries, head=r.head, problems=r.problems)
