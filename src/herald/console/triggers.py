"""The console's trigger pages: every trigger with its statistics, and one trigger with its definition, its
recent journey runs (each with its state and reason) and the events that reached it; editors may switch it on
or off. The same services as the API; only the user's workspace."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from herald.auth.service import audit
from herald.console import routes, views
from herald.deps import SessionDep, StateDep
from herald.events.models import Event
from herald.triggers import service
from herald.triggers.api import stats
from herald.triggers.models import JourneyRun, Trigger

router = APIRouter(route_class=routes.ConsoleRoute, include_in_schema=False)
TriggerRef = Annotated[str, Path(max_length=64)]


@router.get("/console/triggers")
async def trigger_list(session: SessionDep, signed: routes.SignedDep) -> Response:
    rows = (await session.scalars(select(Trigger).where(Trigger.workspace_id == signed.user.workspace_id)
                                  .order_by(Trigger.name).limit(500))).all()
    shown = [(t, await stats(session, t.id)) for t in rows]
    return views.render("triggers.html", routes._page(signed, "triggers", triggers=shown))


@router.get("/console/triggers/{trigger_id}")
async def trigger_page(session: SessionDep, signed: routes.SignedDep, trigger_id: TriggerRef) -> Response:
    t = await service.get(session, signed.user.workspace_id, trigger_id)
    runs = (await session.scalars(select(JourneyRun).where(JourneyRun.trigger_id == t.id)
                                  .order_by(JourneyRun.id.desc()).limit(50))).all()
    events = (await session.scalars(select(Event).where(
        Event.workspace_id == t.workspace_id, Event.type == t.event_type).order_by(Event.id.desc()).limit(20))
    ).all() if t.event_type else []
    definition = json.dumps({"filter": t.filter, "counters": t.counters, "steps": t.steps, "exit_on": t.exit_on,
                             "schedule": t.schedule, "reentry": t.reentry}, indent=2)
    return views.render("trigger.html", routes._page(signed, "triggers", t=t, s=await stats(session, t.id),
                                                     runs=runs, events=events, definition=definition))


@router.post("/console/triggers/{trigger_id}/toggle")
async def trigger_toggle(session: SessionDep, state: StateDep, signed: routes.SignedDep, trigger_id: TriggerRef,
                         csrf: routes.CsrfForm = "") -> Response:
    routes._require_sender(signed)
    routes._check_csrf(state, signed, csrf)
    t = await service.get(session, signed.user.workspace_id, trigger_id)
    t.active, t.updated_at = not t.active, datetime.now(UTC)
    audit(session, t.workspace_id, signed.user.email, "trigger.update", t.id, {"fields": ["active"],
                                                                               "active": t.active})
    return RedirectResponse(f"/console/triggers/{t.id}", status_code=303)
