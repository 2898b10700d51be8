"""``/v1/attempts``: the detailed attempt history across campaigns (seed 001): every provider call with its
time, campaign, contact and whether the provider accepted or rejected it, filterable, with totals, as JSON
pages or as spreadsheet-safe CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import Select, case, func, select

from herald import csvsafe, pagination
from herald.auth.tokens import Principal
from herald.db.session import reading
from herald.deps import SessionDep, StateDep, require
from herald.messages.models import ATTEMPTS, MESSAGES
from herald.problems import COMMON_RESPONSES

router = APIRouter(prefix="/v1/attempts", tags=["campaigns"], responses={**COMMON_RESPONSES})
Reader = Annotated[Principal, Depends(require("campaigns:read"))]
_a, _m = ATTEMPTS.c, MESSAGES.c
PAGE = 5000
HEADER = ["attempt_id", "time", "campaign_id", "contact_id", "message_id", "to", "attempt", "accepted", "outcome",
          "code", "error"]


class AttemptOut(BaseModel):
    id: int
    at: datetime
    campaign_id: str | None
    contact_id: str | None
    message_id: str
    to: str
    attempt: int
    accepted: bool
    outcome: str
    code: str | None
    error: str | None


class AttemptPage(BaseModel):
    data: list[AttemptOut]
    totals: dict[str, int]
    next_cursor: str | None


class Filters:
    def __init__(self, campaign: Annotated[str | None, Query(max_length=40)] = None,
                 contact: Annotated[str | None, Query(max_length=40)] = None,
                 accepted: bool | None = None,
                 since: datetime | None = None, until: datetime | None = None) -> None:
        self.campaign, self.contact, self.accepted = campaign, contact, accepted
        self.since, self.until = pagination.aware(since, "since"), pagination.aware(until, "until")

    def apply(self, raw: Any, workspace_id: str) -> Select[Any]:
        query: Select[Any] = raw.select_from(ATTEMPTS.join(MESSAGES, _m.id == _a.message_id)).where(
            _m.workspace_id == workspace_id)
        if self.campaign:
            query = query.where(_m.source_id == self.campaign)
        if self.contact:
            query = query.where(_m.contact_id == self.contact)
        if self.accepted is not None:
            query = query.where((_a.outcome == "sent") if self.accepted else (_a.outcome != "sent"))
        if self.since:
            query = query.where(_a.started_at >= self.since)
        if self.until:
            query = query.where(_a.started_at < self.until)
        return query


_COLUMNS = (_a.id, _a.started_at, _m.source_id, _m.contact_id, _a.message_id, _m.to_address, _a.number,
            _a.outcome, _a.code, _a.error)


def _out(r: Any) -> AttemptOut:
    return AttemptOut(id=r[0], at=r[1], campaign_id=r[2], contact_id=r[3], message_id=r[4], to=r[5], attempt=r[6],
                      accepted=r[7] == "sent", outcome=r[7], code=r[8], error=r[9])


@router.get("", response_model=AttemptPage, summary="Every provider call, oldest first, with totals of accepted "
            "and rejected")
async def attempts(session: SessionDep, principal: Reader, filters: Annotated[Filters, Depends()],
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                   cursor: Annotated[str | None, Query(max_length=40)] = None) -> AttemptPage:
    query = filters.apply(select(*_COLUMNS), principal.workspace_id)
    if cursor:
        query = query.where(_a.id > pagination.after_row(cursor))
    rows = (await session.execute(query.order_by(_a.id).limit(limit + 1))).all()
    data = [_out(r) for r in rows[:limit]]
    totals = select(func.count(), func.sum(case((_a.outcome == "sent", 1), else_=0)))
    sums = (await session.execute(filters.apply(totals, principal.workspace_id))).one()
    total, accepted = int(sums[0] or 0), int(sums[1] or 0)
    more = len(rows) > limit
    return AttemptPage(data=data, totals={"attempts": total, "accepted": accepted, "rejected": total - accepted},
                       next_cursor=str(data[-1].id) if more and data else None)


@router.get(".csv", summary="The same history as CSV (spreadsheet-safe)", response_class=StreamingResponse)
async def attempts_csv(principal: Reader, state: StateDep, filters: Annotated[Filters, Depends()]
                       ) -> StreamingResponse:
    workspace_id = principal.workspace_id

    async def lines() -> AsyncIterator[str]:
        header = csvsafe.rows(HEADER, [])
        yield next(header)
        after = 0
        while True:
            async with reading(state.engine) as conn:
                page = (await conn.execute(filters.apply(select(*_COLUMNS), workspace_id)
                                           .where(_a.id > after).order_by(_a.id).limit(PAGE))).all()
            if not page:
                return
            after = page[-1][0]
            body = csvsafe.rows([], ([r[0], r[1].isoformat(), r[2], r[3], r[4], r[5], r[6], r[7] == "sent", r[7],
                                      r[8], r[9]] for r in page))
            next(body)
            yield "".join(body)

    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="attempts.csv"'})
