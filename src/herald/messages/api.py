"""``/v1/messages``: send one message; read its state, timeline and attempts; list messages."""

from __future__ import annotations

import functools
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from herald import errors, idempotency
from herald.auth.tokens import Principal
from herald.deps import SessionDep, StateDep, require, workspace_of
from herald.messages import exports, filters, service
from herald.messages.filters import Filter
from herald.messages.models import Attempt, Message, MessageContent, MessageEvent
from herald.messages.schemas import AttemptOut, MessageCreate, MessageOut, MessagePage, TimelineEntry
from herald.pipeline import handoff
from herald.problems import COMMON_RESPONSES, PROBLEM_SCHEMA, problem

router = APIRouter(prefix="/v1/messages", tags=["messages"], responses={**COMMON_RESPONSES})
Sender = Annotated[Principal, Depends(require("messages:send"))]
Reader = Annotated[Principal, Depends(require("messages:read"))]
Shown = Annotated[Filter, Depends(filters.from_query)]
Columns = Annotated[str | None, Query(max_length=1000, description=(
    "Comma-separated, in order, from: " + ", ".join(exports.COLUMNS) + "; default: " + ", ".join(exports.DEFAULT)))]


def to_out(
    m: Message, *, events: list[MessageEvent] | None = None, attempts: list[Attempt] | None = None,
    content: dict[str, Any] | None = None,
) -> MessageOut:
    return MessageOut(
        id=m.id, state=m.state, channel=m.channel, to=m.to_address, sender=m.sender,
        classification=m.classification, priority=m.priority, contact_id=m.contact_id, override=m.override,
        template_id=m.template_id,
        template_version=m.template_version, locale=m.locale, provider_id=m.provider_id,
        provider_message_id=m.provider_message_id, reason=m.reason, explanation=m.explanation,
        attempt_count=m.attempts, due_at=m.due_at, expires_at=m.expires_at, created_at=m.created_at,
        updated_at=m.updated_at, sent_at=m.sent_at, delivered_at=m.delivered_at, metadata=m.meta or {},
        content=content,
        timeline=None if events is None else timeline(events, attempts or []),
        attempts=None if attempts is None else [AttemptOut.model_validate(a, from_attributes=True)
                                                for a in attempts],
    )


def timeline(events: list[MessageEvent], attempts: list[Attempt]) -> list[TimelineEntry]:
    """State transitions in order. Each provider call is a ``sending`` step, taken from its attempt row
    (the dispatcher does not write a separate event for it: one row less per message on the hot path)."""
    steps = [(e.at, 1, TimelineEntry(state=e.state, at=e.at, detail=e.detail)) for e in events]
    steps += [(a.started_at, 0, TimelineEntry(state="sending", at=a.started_at,
                                              detail=f"Attempt {a.number} handed to the provider"))
              for a in attempts]
    return [entry for _, _, entry in sorted(steps, key=lambda s: (s[0], s[1]))]


def _json(out: MessageOut) -> dict[str, Any]:
    return out.model_dump(mode="json", by_alias=True, exclude_none=False)


@router.post("", status_code=202, response_model=MessageOut, summary="Send a message",
             responses={202: {"description": "Accepted; delivery happens in the background"},
                        404: {**PROBLEM_SCHEMA, "description": "The contact named does not exist"}})
async def create_message(
    request: Request,
    req: MessageCreate,
    session: SessionDep,
    state: StateDep,
    principal: Sender,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    reservation, replay = await idempotency.begin(session, principal.workspace_id, idempotency_key,
                                                  request.url.path, req.model_dump(mode="json", by_alias=True))
    if replay is not None:
        return replay
    workspace = await workspace_of(session, principal)
    offered = state.handoff()  # herald serve: its dispatcher sends the message as soon as it is committed
    handoff.offer(session.sync_session, offered)
    try:
        message = await service.create(session, workspace, req, renderer=state.renderer,
                                       sms_max_segments=state.settings.sms_max_segments, actor=principal.client_id,
                                       links=service.Links(state.keyring, state.settings.effective_public_url))
    except errors.RenderFailed as exc:  # kept as a failed message (committed), never sent half-rendered
        failed = problem(422, exc.code, exc.detail, instance=request.url.path, errors_=exc.errors,
                         headers={"Location": f"/v1/messages/{exc.message_id}"}, message_id=exc.message_id)
        reservation.store(422, json.loads(bytes(failed.body)))
        return failed
    location = {"Location": f"/v1/messages/{message.id}"}
    # The answer shows the message as accepted (its one timeline step), built before it is written: no
    # read-back of what this request itself planned.
    accepted = MessageEvent(message_id=message.id, state=message.state, at=message.created_at,
                            detail=message.explanation)
    body = _json(to_out(message, events=[accepted], attempts=[]))
    reservation.store(202, body)
    # Taken before the insert: it is written already leased to this process's dispatcher, so no UPDATE
    # follows and no NOTIFY wakes the dispatcher into a claim that would find nothing.
    content = next((o.content for o in session.new if isinstance(o, MessageContent) and o.message_id == message.id),
                   None)
    if content is not None and handoff.take_created(session.sync_session, message, content):
        request.state.after_commit = functools.partial(state.adopt, offered)
    else:
        request.state.after_commit = state.wake_dispatcher
    await session.flush()
    return JSONResponse(body, status_code=202, headers=location)


@router.get("", response_model=MessagePage, response_model_by_alias=True, summary="List messages, newest first")
async def list_messages(
    session: SessionDep,
    principal: Reader,
    shown: Shown,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    rows, next_cursor = await service.page(session, principal.workspace_id, shown, limit=limit, cursor=cursor)
    return {"data": [_json(to_out(m)) for m in rows], "next_cursor": next_cursor}


@router.get("/export.csv", response_class=StreamingResponse,
            summary="The messages a filter shows, newest first, with the columns chosen, as CSV (spreadsheet-safe)")
async def export_csv(session: SessionDep, principal: Reader, state: StateDep, shown: Shown,
                     columns: Columns = None) -> Response:
    return await exports.download(session, state.engine, principal.workspace_id, principal.client_id, shown,
                                  exports.chosen(columns), "csv")


@router.get("/export.pdf", response_class=Response, responses={200: {"content": {"application/pdf": {}}}},
            summary="The messages a filter shows, newest first, with the columns chosen, as a PDF table "
                    "(at most 5,000)")
async def export_pdf(session: SessionDep, principal: Reader, state: StateDep, shown: Shown,
                     columns: Columns = None) -> Response:
    return await exports.download(session, state.engine, principal.workspace_id, principal.client_id, shown,
                                  exports.chosen(columns), "pdf")


@router.get("/{message_id}", response_model=MessageOut, response_model_by_alias=True,
            summary="A message with its timeline and attempts")
async def get_message(
    session: SessionDep, principal: Reader, message_id: Annotated[str, Path(max_length=64)]
) -> dict[str, Any]:
    message = await service.get(session, principal.workspace_id, message_id)
    events, attempts = await service.history(session, message.id)
    content = await service.content_of(session, message.id)
    return _json(to_out(message, events=events, attempts=attempts, content=content))
