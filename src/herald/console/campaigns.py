"""The console's campaign pages: every campaign with its progress, and one campaign live (htmx polls its
counters every second) with its skip and failure reasons, the actions its state allows, and its exports.
They use the same services as the API and show only the user's workspace."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response, StreamingResponse

from herald import errors
from herald.campaigns import exports, service
from herald.campaigns.models import DRAFT, PAUSED, RUNNING, SCHEDULED, Campaign
from herald.console import routes, views
from herald.deps import SessionDep, StateDep

router = APIRouter(route_class=routes.ConsoleRoute, include_in_schema=False)
CampaignRef = Annotated[str, Path(max_length=64)]
ALLOWED = {DRAFT: ("start",), SCHEDULED: ("stop",), RUNNING: ("pause", "stop"), PAUSED: ("resume", "stop")}


@router.get("/console/campaigns")
async def campaign_list(session: SessionDep, signed: routes.SignedDep) -> Response:
    rows = (await session.scalars(select(Campaign).where(Campaign.workspace_id == signed.user.workspace_id)
                                  .order_by(Campaign.id.desc()).limit(200))).all()
    shown = [(c, await service.progress(session, c)) for c in rows]
    return views.render("campaigns.html", routes._page(signed, "campaigns", campaigns=shown))


async def _context(session: SessionDep, signed: routes.Signed, campaign_id: str) -> dict[str, Any]:
    c = await service.get(session, signed.user.workspace_id, campaign_id)
    p = await service.progress(session, c)
    processed = p["planned"] - p["queued"] - p["sending"]
    return {"c": c, "p": p, "processed": processed, "percent": round(100 * processed / c.total) if c.total else 0,
            "actions": ALLOWED.get(c.state, ()) if signed.can_send else (),
            "live": c.state in (SCHEDULED, RUNNING, PAUSED)}


@router.get("/console/campaigns/{campaign_id}")
async def campaign_page(session: SessionDep, signed: routes.SignedDep, campaign_id: CampaignRef) -> Response:
    return views.render("campaign.html", routes._page(signed, "campaigns",
                                                      **await _context(session, signed, campaign_id)))


@router.get("/console/fragments/campaigns/{campaign_id}")
async def campaign_fragment(session: SessionDep, signed: routes.SignedDep, campaign_id: CampaignRef) -> Response:
    return views.render("_campaign.html", routes._page(signed, "campaigns",
                                                       **await _context(session, signed, campaign_id)))


@router.post("/console/campaigns/{campaign_id}/{action}")
async def campaign_action(session: SessionDep, state: StateDep, signed: routes.SignedDep, campaign_id: CampaignRef,
                          action: Annotated[str, Path(pattern="^(start|pause|resume|stop)$")],
                          csrf: routes.CsrfForm = "") -> Response:
    routes._require_sender(signed)
    routes._check_csrf(state, signed, csrf)
    c = await service.get(session, signed.user.workspace_id, campaign_id)
    try:
        await service.ACTIONS[action](session, c, signed.user.email)
    except errors.Conflict as exc:
        return views.render("error.html", routes._page(signed, "campaigns", title="Not now", detail=exc.detail),
                            status=409)
    if action in ("start", "resume"):
        state.wake_dispatcher()
    return RedirectResponse(f"/console/campaigns/{c.id}", status_code=303)


@router.get("/console/campaigns/{campaign_id}/export.csv")
async def campaign_csv(session: SessionDep, state: StateDep, signed: routes.SignedDep,
                       campaign_id: CampaignRef) -> Response:
    c = await service.get(session, signed.user.workspace_id, campaign_id)
    return StreamingResponse(exports.csv_lines(state.engine, c.id), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{c.id}.csv"'})


@router.get("/console/campaigns/{campaign_id}/report.pdf")
async def campaign_pdf(session: SessionDep, signed: routes.SignedDep, campaign_id: CampaignRef) -> Response:
    c = await service.get(session, signed.user.workspace_id, campaign_id)
    return Response(await exports.pdf(session, c), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{c.id}.pdf"'})
