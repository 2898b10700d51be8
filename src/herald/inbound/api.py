"""``GET /v1/inbound`` (replies, newest first) and ``GET /v1/contacts/{id}/conversation`` (both directions,
in order)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import or_, select

from herald import pagination
from herald.auth.tokens import Principal
from herald.contacts import service as contacts
from herald.deps import SessionDep, require
from herald.inbound.models import InboundMessage
from herald.messages.models import Message, MessageContent
from herald.problems import COMMON_RESPONSES

router = APIRouter(tags=["inbound"], responses={**COMMON_RESPONSES})
Reader = Annotated[Principal, Depends(require("messages:read"))]
CONVERSATION = 200


class InboundOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    from_: str = Field(alias="from")
    to: str
    body: str
    contact_id: str | None
    in_reply_to: str | None
    keyword: str | None
    action: str
    reply_id: str | None
    event_id: str | None = None
    received_at: datetime


class InboundPage(BaseModel):
    data: list[InboundOut]
    next_cursor: str | None


def to_out(m: InboundMessage) -> InboundOut:
    return InboundOut(id=m.id, from_=m.from_address, to=m.to_address, body=m.body, contact_id=m.contact_id,
                      in_reply_to=m.in_reply_to, keyword=m.keyword, action=m.action, reply_id=m.reply_id,
                      event_id=m.event_id, received_at=m.received_at)


@router.get("/v1/inbound", response_model=InboundPage, response_model_by_alias=True,
            summary="Messages received (replies), newest first")
async def list_inbound(session: SessionDep, principal: Reader,
                       from_: Annotated[str | None, Query(alias="from", max_length=64)] = None,
                       action: Annotated[str | None, Query(max_length=20)] = None,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50,
                       cursor: Annotated[str | None, Query(max_length=200)] = None) -> InboundPage:
    query = select(InboundMessage).where(InboundMessage.workspace_id == principal.workspace_id)
    if from_:
        query = query.where(InboundMessage.from_address == from_)
    if action:
        query = query.where(InboundMessage.action == action)
    rows, next_cursor = await pagination.newest_first(session, query, InboundMessage.id, "in", limit=limit,
                                                      cursor=cursor)
    return InboundPage(data=[to_out(r) for r in rows], next_cursor=next_cursor)


@router.get("/v1/contacts/{contact_id}/conversation", summary="A contact's SMS thread: what we sent and what "
            "they replied, oldest first (the latest 200)")
async def conversation(session: SessionDep, principal: Reader,
                       contact_id: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
    contact = await contacts.get(session, principal.workspace_id, contact_id)
    sent_to = [Message.contact_id == contact.id] + ([Message.to_address == contact.phone] if contact.phone else [])
    outbound = (await session.execute(
        select(Message, MessageContent.content).outerjoin(MessageContent, MessageContent.message_id == Message.id)
        .where(Message.workspace_id == contact.workspace_id, Message.channel == "sms", or_(*sent_to))
        .order_by(Message.id.desc()).limit(CONVERSATION))).all()
    from_them = [InboundMessage.contact_id == contact.id] + (
        [InboundMessage.from_address == contact.phone] if contact.phone else [])
    inbound = (await session.scalars(
        select(InboundMessage).where(InboundMessage.workspace_id == contact.workspace_id, or_(*from_them))
        .order_by(InboundMessage.id.desc()).limit(CONVERSATION))).all()
    items = [{"direction": "out", "id": m.id, "at": m.created_at, "body": (content or {}).get("body"),
              "state": m.state} for m, content in outbound]
    items += [{"direction": "in", "id": m.id, "at": m.received_at, "body": m.body, "in_reply_to": m.in_reply_to,
               "keyword": m.keyword} for m in inbound]
    items.sort(key=lambda item: item["at"])
    return {"contact_id": contact.id, "data": [{**i, "at": i["at"].isoformat()} for i in items[-CONVERSATION:]]}
