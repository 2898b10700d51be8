"""``/v1/campaigns``: create and change drafts, start / pause / resume / stop, a dry run, live progress (also as
server-sent events), per-recipient results, and exports as CSV and PDF."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors, pagination
from herald.auth.service import audit
from herald.auth.tokens import Principal
from herald.campaigns import exports, service
from herald.campaigns.models import DRAFT, ENDED, Campaign
from herald.campaigns.preview import preview
from herald.campaigns.progress import STATES_OF, counts
from herald.campaigns.schemas import (
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    PreviewIn,
    PreviewOut,
    RecipientOut,
    RecipientPage,
)
from herald.db.session import reading
from herald.deps import SessionDep, StateDep, require
from herald.messages.models import MESSAGES
from herald.messages.service import Links
from herald.problems import COMMON_RESPONSES, PROBLEM_SCHEMA

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"],
                   responses={**COMMON_RESPONSES, 404: PROBLEM_SCHEMA, 409: PROBLEM_SCHEMA})
Reader = Annotated[Principal, Depends(require("campaigns:read"))]
Writer = Annotated[Principal, Depends(require("campaigns:write"))]
Ref = Annotated[str, Path(max_length=200, description="Campaign id or name")]
EVENT_EVERY = 1.0
_m = MESSAGES.c


async def _out(session: SessionDep, c: Campaign) -> CampaignOut:
    return service.to_out(c, await service.progress(session, c))


@router.post("", response_model=CampaignOut, status_code=201, summary="Create a campaign (a draft)")
async def create(req: CampaignIn, session: SessionDep, principal: Writer) -> CampaignOut:
    c = await service.create(session, principal.workspace_id, req, principal.client_id)
    await session.flush()
    return await _out(session, c)


@router.get("", response_model=list[CampaignOut], summary="The campaigns, newest first")
async def list_campaigns(session: SessionDep, principal: Reader,
                         state: Annotated[str | None, Query(max_length=20)] = None,
                         parent_id: Annotated[str | None, Query(max_length=40, description="A recurring "
                                                                "campaign: its runs")] = None) -> list[CampaignOut]:
    query = select(Campaign).where(Campaign.workspace_id == principal.workspace_id)
    if state:
        query = query.where(Campaign.state == state)
    if parent_id:
        query = query.where(Campaign.parent_id == parent_id)
    rows = (await session.scalars(query.order_by(Campaign.id.desc()).limit(500))).all()
    return [await _out(session, c) for c in rows]


@router.get("/{ref}", response_model=CampaignOut, summary="One campaign with its live, exact progress")
async def get(ref: Ref, session: SessionDep, principal: Reader) -> CampaignOut:
    return await _out(session, await service.get(session, principal.workspace_id, ref))


@router.patch("/{ref}", response_model=CampaignOut, summary="Change a draft")
async def patch(ref: Ref, req: CampaignPatch, session: SessionDep, principal: Writer) -> CampaignOut:
    c = await service.get(session, principal.workspace_id, ref)
    return await _out(session, await service.patch(session, c, req, principal.client_id))


@router.delete("/{ref}", status_code=204, summary="Delete a draft")
async def delete(ref: Ref, session: SessionDep, principal: Writer) -> Response:
    c = await service.get(session, principal.workspace_id, ref)
    if c.state != DRAFT:
        raise errors.Conflict(f"Campaign {c.name!r} is {c.state}; only a draft can be deleted (stop it instead).",
                              code="campaign_state", errors=[{"field": "state", "message": c.state}])
    await session.delete(c)
    audit(session, c.workspace_id, principal.client_id, "campaign.delete", c.id)
    return Response(status_code=204)


@router.post("/{ref}/start", response_model=CampaignOut, summary="Start now, or at its start_at")
async def start(request: Request, ref: Ref, session: SessionDep, principal: Writer, state: StateDep
                ) -> CampaignOut:
    c = await service.start(session, await service.get(session, principal.workspace_id, ref), principal.client_id)
    request.state.after_commit = state.wake_dispatcher
    return await _out(session, c)


@router.post("/{ref}/pause", response_model=CampaignOut, summary="Pause: waiting messages are held")
async def pause(ref: Ref, session: SessionDep, principal: Writer) -> CampaignOut:
    c = await service.get(session, principal.workspace_id, ref)
    return await _out(session, await service.pause(session, c, principal.client_id))


@router.post("/{ref}/resume", response_model=CampaignOut, summary="Resume where it paused, re-sending nothing")
async def resume(request: Request, ref: Ref, session: SessionDep, principal: Writer, state: StateDep
                 ) -> CampaignOut:
    c = await service.resume(session, await service.get(session, principal.workspace_id, ref),
                             principal.client_id)
    request.state.after_commit = state.wake_dispatcher
    return await _out(session, c)


@router.post("/{ref}/stop", response_model=CampaignOut, summary="Stop for good: nothing more is sent")
async def stop(ref: Ref, session: SessionDep, principal: Writer) -> CampaignOut:
    c = await service.get(session, principal.workspace_id, ref)
    return await _out(session, await service.stop(session, c, principal.client_id))


@router.post("/{ref}/preview", response_model=PreviewOut, summary="Dry run: who would get it, who not and why, "
             "SMS segments and cost, sample renders, warnings")
async def dry_run(ref: Ref, req: PreviewIn, session: SessionDep, principal: Reader, state: StateDep
                  ) -> PreviewOut:
    c = await service.get(session, principal.workspace_id, ref)
    return await preview(session, state.renderer, c, req, Links(state.keyring, state.settings.effective_public_url))


@router.get("/{ref}/events", summary="Progress as server-sent events (one `progress` event a second until the "
            "campaign ends)", response_class=StreamingResponse)
async def events(ref: Ref, session: SessionDep, principal: Reader, state: StateDep) -> StreamingResponse:
    c = await service.get(session, principal.workspace_id, ref)
    campaign_id = c.id

    async def stream() -> AsyncIterator[str]:
        while True:
            async with reading(state.engine) as conn, AsyncSession(bind=conn) as s:
                current = await s.get(Campaign, campaign_id)
                if current is None:
                    return
                body = service.to_out(current, await counts(s, campaign_id, current.total))
                await s.rollback()
            yield f"event: progress\ndata: {json.dumps(body.model_dump(mode='json'))}\n\n"
            if body.state in ENDED:
                yield "event: end\ndata: {}\n\n"
                return
            await asyncio.sleep(EVENT_EVERY)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/{ref}/recipients", response_model=RecipientPage, summary="Each recipient's outcome, filterable")
async def recipients(ref: Ref, session: SessionDep, principal: Reader,
                     state: Annotated[str | None, Query(description=", ".join(STATES_OF))] = None,
                     reason: Annotated[str | None, Query(max_length=60)] = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                     cursor: Annotated[str | None, Query(max_length=80)] = None) -> RecipientPage:
    c = await service.get(session, principal.workspace_id, ref)
    query = select(MESSAGES).where(_m.source_id == c.id)
    if state:
        if state not in STATES_OF:
            raise errors.Invalid(f"Unknown state {state!r}; use one of {', '.join(STATES_OF)}.",
                                 code="unknown_state", field="state")
        query = query.where(_m.state.in_(STATES_OF[state]))
    if reason:
        query = query.where(_m.reason == reason)
    if cursor:
        query = query.where(_m.id > pagination.decode(cursor, "msg"))
    rows = (await session.execute(query.order_by(_m.id).limit(limit + 1))).all()
    data = [RecipientOut(message_id=r.id, contact_id=r.contact_id, to=r.to_address, state=r.state, reason=r.reason,
                         explanation=r.explanation, attempts=r.attempts, created_at=r.created_at, sent_at=r.sent_at,
                         delivered_at=r.delivered_at, final_at=r.final_at) for r in rows[:limit]]
    more = len(rows) > limit
    return RecipientPage(data=data, next_cursor=pagination.encode(data[-1].message_id) if more and data else None)


@router.get("/{ref}/export.csv", summary="Every recipient's outcome as CSV (spreadsheet-safe)",
            response_class=StreamingResponse)
async def export_csv(ref: Ref, session: SessionDep, principal: Reader, state: StateDep) -> StreamingResponse:
    c = await service.get(session, principal.workspace_id, ref)
    audit(session, c.workspace_id, principal.client_id, "campaign.export", c.id, {"format": "csv"})
    return StreamingResponse(exports.csv_lines(state.engine, c.id), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{c.id}.csv"'})


@router.get("/{ref}/report.pdf", summary="A PDF report: summary, outcome chart, skip reasons, timeline",
            response_class=Response)
async def export_pdf(ref: Ref, session: SessionDep, principal: Reader) -> Response:
    c = await service.get(session, principal.workspace_id, ref)
    audit(session, c.workspace_id, principal.client_id, "campaign.export", c.id, {"format": "pdf"})
    body = await exports.pdf(session, c)
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{c.id}.pdf"'})
