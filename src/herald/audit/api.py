"""``GET /v1/audit``: the workspace's audit log, newest first. Append-only: there is no write endpoint; rows
are written by the services themselves (``auth.service.audit``) in the transaction of the change."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import func, select

from herald import pagination
from herald.auth.models import AuditLog
from herald.auth.tokens import Principal
from herald.deps import SessionDep, require
from herald.problems import COMMON_RESPONSES

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses={**COMMON_RESPONSES})
Reader = Annotated[Principal, Depends(require("audit:read"))]


class AuditEntry(BaseModel):
    id: str
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]
    ip: str | None
    created_at: datetime


class AuditPage(BaseModel):
    data: list[AuditEntry]
    next_cursor: str | None


@router.get("", response_model=AuditPage, summary="The audit log, newest first")
async def list_audit(
    session: SessionDep,
    principal: Reader,
    action: Annotated[str | None, Query(max_length=101, description="Exact, or a prefix ending in * "
                                        "(e.g. consent.*)")] = None,
    target: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[datetime | None, Query(description="ISO-8601 with a time zone; inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO-8601 with a time zone; exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> AuditPage:
    query = select(AuditLog).where(AuditLog.workspace_id == principal.workspace_id)
    if action:
        if action.endswith("*"):
            # substr, not LIKE: exact on both databases (SQLite's LIKE ignores case) and no wildcards to escape
            prefix = action[:-1]
            query = query.where(func.substr(AuditLog.action, 1, len(prefix)) == prefix) if prefix else query
        else:
            query = query.where(AuditLog.action == action)
    if target:
        query = query.where(AuditLog.target == target)
    if actor:
        query = query.where(AuditLog.actor == actor)
    if (start := pagination.aware(since, "since")) is not None:
        query = query.where(AuditLog.created_at >= start)
    if (end := pagination.aware(until, "until")) is not None:
        query = query.where(AuditLog.created_at < end)
    # Ids are time-sortable (herald.ids), so id order is creation order and a stable cursor.
    rows, next_cursor = await pagination.newest_first(session, query, AuditLog.id, "aud", limit=limit, cursor=cursor)
    return AuditPage(data=[AuditEntry.model_validate(r, from_attributes=True) for r in rows],
                     next_cursor=next_cursor)
