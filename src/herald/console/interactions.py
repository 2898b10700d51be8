"""The console's interactions view: every message of the workspace, newest first, filtered by state, channel,
classification, source and address, and the same selection downloaded as CSV (:mod:`herald.messages.exports`,
the API's export). Only the user's workspace."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from herald import errors
from herald.channels.base import CHANNELS
from herald.console import routes, views
from herald.deps import SessionDep, StateDep
from herald.messages import exports, filters
from herald.messages import service as messages
from herald.messages.models import STATES
from herald.messages.schemas import CLASSIFICATIONS

router = APIRouter(route_class=routes.ConsoleRoute, include_in_schema=False)
SOURCES = ("api", "campaign", "trigger", "keyword", "unsubscribe")
Param = Annotated[str, Query(max_length=320)]


@router.get("/console/messages")
async def message_list(session: SessionDep, signed: routes.SignedDep, state: Param = "", channel: Param = "",
                       classification: Param = "", source: Param = "", to: Param = "",
                       cursor: Annotated[str, Query(max_length=200)] = "") -> Response:
    ws = signed.user.workspace_id
    given = {k: v for k, v in {"state": state, "channel": channel, "classification": classification,
                               "source": source, "to": to}.items() if v}
    error: str | None = None
    rows: list[Any] = []
    next_cursor: str | None = None
    try:
        shown = await filters.build(session, ws, state=state, channel=channel, classification=classification,
                                    source=source, to=to)
        rows, next_cursor = await messages.page(session, ws, shown, limit=routes.PAGE_SIZE, cursor=cursor or None)
    except errors.HeraldError as exc:
        error = exc.detail
    older = "?" + urlencode({**given, "cursor": next_cursor}) if next_cursor else None
    newest = ("?" + urlencode(given) if given else "?") if cursor else None
    return views.render("messages.html", routes._page(
        signed, "messages", rows=rows, f=given, states=STATES, channels=CHANNELS, classifications=CLASSIFICATIONS,
        sources=SOURCES, error=error, older=older, newest=newest,
        export="/console/messages/export.csv" + ("?" + urlencode(given) if given else ""),
        export_pdf="/console/messages/export.pdf" + ("?" + urlencode(given) if given else ""),
        providers=await views.provider_names(session, ws),
    ), status=400 if error else 200)


@router.get("/console/messages/export.{fmt}")
async def message_export(session: SessionDep, signed: routes.SignedDep, app: StateDep,
                         fmt: Annotated[Literal["csv", "pdf"], Path()], state: Param = "", channel: Param = "",
                         classification: Param = "", source: Param = "", to: Param = "") -> Response:
    """The list's selection as CSV or a PDF table, with the default columns."""
    ws = signed.user.workspace_id
    shown = await filters.build(session, ws, state=state, channel=channel, classification=classification,
                                source=source, to=to)
    return await exports.download(session, app.engine, ws, signed.user.email, shown, list(exports.DEFAULT), fmt)
