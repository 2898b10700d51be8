"""Receiving a reply: stored once per provider message id, threaded to the latest message we sent that number
from that sender within the reply window, and acted on when it is a keyword. An opt-out adds the number to
the workspace suppression list at once (source ``keyword``); START lifts only keyword suppressions; each
keyword gets one answer, sent as a transactional message through the same pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from herald import addresses, errors, ids
from herald.auth.models import Workspace
from herald.auth.service import audit
from herald.contacts import service as contacts
from herald.inbound import keywords
from herald.inbound.models import InboundMessage
from herald.messages import service as messages
from herald.messages.models import Message
from herald.messages.schemas import MessageCreate
from herald.pipeline import policy
from herald.providers.models import Provider
from herald.suppressions import service as suppressions
from herald.templates.liquid import Renderer

REPLY_WINDOW = timedelta(hours=24)
KEYWORD_SOURCE = policy.ANSWER_SOURCE


@dataclass(frozen=True, slots=True)
class Inbound:
    provider_message_id: str
    from_address: str
    to_address: str
    body: str


def texts(workspace: Workspace) -> dict[str, str]:
    """The answers, naming the sender as the carriers require (brand, how to stop, how to get help)."""
    brand = workspace.name
    return {
        keywords.OPT_OUT: f"{brand}: You are unsubscribed and will get no more messages from this number. "
                          "Reply START to resubscribe.",
        keywords.OPT_IN: f"{brand}: You are subscribed again. Msg & data rates may apply. Reply STOP to "
                         "unsubscribe, HELP for help.",
        keywords.HELP: f"{brand}: Alerts and offers from {brand}. Msg frequency varies. Msg & data rates may "
                       "apply. Reply STOP to unsubscribe.",
    }


async def receive(session: AsyncSession, provider: Provider, message: Inbound, *, renderer: Renderer | None
                  ) -> InboundMessage | None:
    """Store and act on one inbound message; None when it was already received (a retried webhook)."""
    workspace = await session.get(Workspace, provider.workspace_id)
    if workspace is None:
        raise errors.NotFound("The provider's workspace no longer exists.", code="workspace_not_found")
    sender = _phone(message.from_address, workspace.default_region)
    ours = _phone(message.to_address, workspace.default_region)
    now = datetime.now(UTC)
    row = InboundMessage(
        id=ids.new_id("in"), workspace_id=workspace.id, provider_id=provider.id,
        provider_message_id=message.provider_message_id, channel="sms", from_address=sender, to_address=ours,
        body=message.body[:2000], received_at=now, action="none")
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    contact = await contacts.by_address(session, workspace.id, "sms", sender)
    row.contact_id = contact.id if contact else None
    row.in_reply_to = await session.scalar(
        select(Message.id).where(Message.workspace_id == workspace.id, Message.channel == "sms",
                                 Message.to_address == sender, Message.source != KEYWORD_SOURCE,
                                 Message.created_at >= now - REPLY_WINDOW,
                                 (Message.sender == ours) | Message.sender.is_(None))
        .order_by(Message.id.desc()).limit(1))
    match = keywords.read(message.body)
    if match is None:
        return row
    row.keyword, row.action = match.keyword, match.action
    target = await suppressions.workspace_list(session, workspace.id)
    if match.action == keywords.OPT_OUT:
        await suppressions.add(session, target, [{"channel": "sms", "address": sender, "scope": "all",
                                                  "reason": match.keyword}], source="keyword", actor="recipient")
        audit(session, workspace.id, "recipient", "suppression.added", target.id,
              {"source": "keyword", "keyword": match.keyword, "inbound_id": row.id})
    elif match.action == keywords.OPT_IN:
        lifted = await suppressions.lift(session, target, suppressions.Address("sms", sender), sources=["keyword"])
        if lifted:
            audit(session, workspace.id, "recipient", "suppression.lifted", target.id,
                  {"source": "keyword", "keyword": match.keyword, "inbound_id": row.id})
    reply = await messages.create(
        session, workspace, MessageCreate(channel="sms", to=sender, body=texts(workspace)[match.action],
                                          sender=ours, classification="transactional", provider=provider.id,
                                          metadata={"inbound_id": row.id}),
        source=KEYWORD_SOURCE, renderer=renderer, actor="keyword")
    row.reply_id = reply.id
    return row


def _phone(raw: str, region: str) -> str:
    try:
        return addresses.phone_e164(raw, region, field="From")
    except errors.Invalid:
        return raw.strip()[:320]  # short codes and alphanumeric senders are kept as they came
