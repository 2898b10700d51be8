"""``/v1/triggers``: create, change, (de)activate and delete triggers; their statistics; their journey runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors, pagination
from herald.auth.service import audit
from herald.auth.tokens import Principal
from herald.deps import SessionDep, StateDep, require, workspace_of
from herald.messages.models import Message
from herald.problems import COMMON_RESPONSES, PROBLEM_SCHEMA
from herald.triggers import engine, service
from herald.triggers.models import LIVE, RUN_STATES, SKIPPED, JourneyRun, Trigger
from herald.triggers.schemas import RunOut, RunPage, TriggerIn, TriggerOut, TriggerPatch, TriggerStats
from herald.triggers.sending import SendContext

router = APIRouter(prefix="/v1/triggers", tags=["triggers"],
                   responses={**COMMON_RESPONSES, 404: PROBLEM_SCHEMA, 409: PROBLEM_SCHEMA})
Reader = Annotated[Principal, Depends(require("triggers:read"))]
Writer = Annotated[Principal, Depends(require("triggers:write"))]
Ref = Annotated[str, Path(max_length=200, description="Trigger id or name")]


async def stats(session: AsyncSession, trigger_id: str) -> TriggerStats:
    runs: dict[str, int] = dict.fromkeys(RUN_STATES, 0)
    for state, n in (await session.execute(select(JourneyRun.state, func.count()).where(
            JourneyRun.trigger_id == trigger_id).group_by(JourneyRun.state))).all():
        runs[state] = int(n)
    messages = {state: int(n) for state, n in (await session.execute(select(Message.state, func.count()).where(
        Message.source_id == trigger_id).group_by(Message.state))).all()}
    matched = sum(runs.values())
    return TriggerStats(events_matched=matched, runs_started=matched - runs[SKIPPED], skipped=runs[SKIPPED],
                        running=runs["running"], waiting=runs["waiting"], completed=runs["completed"],
                        cancelled=runs["cancelled"], failed=runs["failed"], messages=messages)



@router.post("", response_model=TriggerOut, status_code=201, summary="Create a trigger")
async def create(req: TriggerIn, session: SessionDep, state: StateDep, principal: Writer) -> TriggerOut:
    """Answers ``warnings`` for template variables the event type's sample payload lacks."""
    t, warnings = await service.create(session, await workspace_of(session, principal), req, principal.client_id,
                                       state.renderer)
    await session.flush()
    return service.to_out(t, warnings)


@router.get("", response_model=list[TriggerOut], summary="The triggers")
async def list_triggers(session: SessionDep, principal: Reader,
                        event_type: Annotated[str | None, Query(max_length=100)] = None) -> list[TriggerOut]:
    query = select(Trigger).where(Trigger.workspace_id == principal.workspace_id)
    if event_type:
        query = query.where(Trigger.event_type == event_type)
    return [service.to_out(t) for t in (await session.scalars(query.order_by(Trigger.name).limit(1000))).all()]


@router.get("/{ref}", response_model=TriggerOut, summary="One trigger with its statistics")
async def get(ref: Ref, session: SessionDep, principal: Reader) -> TriggerOut:
    t = await service.get(session, principal.workspace_id, ref)
    return service.to_out(t, stats=await stats(session, t.id))


@router.patch("/{ref}", response_model=TriggerOut, summary="Change a trigger (its owner never changes)")
async def patch(ref: Ref, req: TriggerPatch, session: SessionDep, state: StateDep, principal: Writer) -> TriggerOut:
    workspace = await workspace_of(session, principal)
    t, warnings = await service.patch(session, workspace, await service.get(session, workspace.id, ref), req,
                                      principal.client_id, state.renderer)
    return service.to_out(t, warnings)


@router.delete("/{ref}", status_code=204, summary="Delete a trigger; its live runs are cancelled")
async def delete(ref: Ref, session: SessionDep, state: StateDep, principal: Writer) -> Response:
    workspace = await workspace_of(session, principal)
    t = await service.get(session, workspace.id, ref)
    ctx = engine.Context(session, workspace, SendContext(state.renderer), datetime.now(UTC))
    for run in (await session.scalars(select(JourneyRun).where(JourneyRun.trigger_id == t.id,
                                                               JourneyRun.state.in_(LIVE)))).all():
        await engine.finish(ctx, run, "cancelled", "the trigger was deleted")
    await session.flush()
    audit(session, workspace.id, principal.client_id, "trigger.delete", t.id, {"name": t.name})
    await session.delete(t)
    return Response(status_code=204)


def run_out(r: JourneyRun) -> RunOut:
    return RunOut(id=r.id, trigger_id=r.trigger_id, contact_id=r.contact_id, event_id=r.event_id, state=r.state,
                  position=r.position, wait=r.wait, clock_at=r.clock_at, reason=r.reason, messages=r.messages,
                  started_at=r.started_at, updated_at=r.updated_at, finished_at=r.finished_at)


@router.get("/{ref}/runs", response_model=RunPage, summary="The trigger's journey runs, newest first")
async def runs(ref: Ref, session: SessionDep, principal: Reader,
               state: Annotated[str | None, Query(max_length=20)] = None,
               contact_id: Annotated[str | None, Query(max_length=64)] = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50,
               cursor: Annotated[str | None, Query(max_length=200)] = None) -> dict[str, Any]:
    t = await service.get(session, principal.workspace_id, ref)
    if state and state not in RUN_STATES:
        raise errors.Invalid(f"Unknown run state {state!r}; use one of {', '.join(RUN_STATES)}.",
                             code="unknown_state", field="state")
    query = select(JourneyRun).where(JourneyRun.trigger_id == t.id)
    if state:
        query = query.where(JourneyRun.state == state)
    if contact_id:
        query = query.where(JourneyRun.contact_id == contact_id)
    rows, next_cursor = await pagination.newest_first(session, query, JourneyRun.id, "run", limit=limit,
                                                      cursor=cursor)
    return {"data": [run_out(r) for r in rows], "next_cursor": next_cursor}
