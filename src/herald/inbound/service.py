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
from herald.events import ingest
from herald.events.schemas import EventContact, EventIn
from herald.inbound import keywords
from herald.inbound import rules as keyword_rules
from herald.inbound.models import InboundMessage, KeywordRule
from herald.messages import service as messages
from herald.messages.models import Message
from herald.messages.schemas import MessageCreate
from herald.pipeline import policy
from herald.providers.models import Provider
from herald.suppressions import service as suppressions
from herald.templates.liquid import Renderer
from herald.triggers.sending import SendContext

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
    row.in_reply_to = await thread_of(session, workspace.id, sender, ours, row.id, now)
    rules = await keyword_rules.rules_for(session, workspace.id, ours)
    custom: dict[str, set[str]] = {}
    by_word: dict[str, KeywordRule] = {}
    for each in rules:  # a sender's own rule comes first and wins
        if by_word.setdefault(each.word, each) is each:
            custom.setdefault(each.action, set()).add(each.word)
    match = keywords.read(message.body, {action: frozenset(words) for action, words in custom.items()})
    if match is None:
        return row
    row.keyword, row.action = match.keyword, match.action
    rule = by_word.get(keywords.fold(match.keyword))
    if match.action == keywords.EVENT and rule is not None and rule.event_type:
        row.event_id = await _fire(session, workspace, row, rule.event_type, renderer)
        return row
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
    if match.action == keywords.REPLY and rule is not None and rule.template_id:
        answer = MessageCreate(channel="sms", to=sender, template=rule.template_id, sender=ours,
                               data={"inbound": {"body": row.body, "keyword": row.keyword, "from": sender}},
                               classification="transactional", provider=provider.id, metadata={"inbound_id": row.id})
    else:
        text = await keyword_rules.text_for(session, workspace.id, match.action, ours,
                                            contact.locale if contact else None)
        answer = MessageCreate(channel="sms", to=sender, body=text or texts(workspace)[match.action], sender=ours,
                               classification="transactional", provider=provider.id, metadata={"inbound_id": row.id})
    try:
        reply = await messages.create(session, workspace, answer, source=KEYWORD_SOURCE, renderer=renderer,
                                      actor="keyword")
        row.reply_id = reply.id
    except errors.RenderFailed as exc:  # kept as a failed message that says why; the reply itself is stored
        row.reply_id = exc.message_id
    return row


async def _fire(session: AsyncSession, workspace: Workspace, row: InboundMessage, event_type: str,
                renderer: Renderer | None) -> str | None:
    """Turn the reply into an event of ``event_type`` for its sender, so triggers react to it. The inbound id is
    its idempotency key: a retried webhook fires nothing twice."""
    who = EventContact(id=row.contact_id) if row.contact_id else EventContact(phone=row.from_address)
    payload = {"keyword": row.keyword, "body": row.body, "from": row.from_address, "to": row.to_address,
               "inbound_id": row.id}
    try:
        out = await ingest.ingest(session, workspace, [EventIn(type=event_type, contact=who, payload=payload,
                                                               idempotency_key=f"inbound:{row.id}")],
                                  ctx=SendContext(renderer or Renderer()), batch=False)
    except errors.HeraldError as exc:  # the event type changed since the keyword was made: keep the reply
        row.action = "event_failed"
        row.keyword = f"{row.keyword} ({exc.code})"[:40]
        return None
    return str(out[0]["id"])


async def thread_of(session: AsyncSession, workspace_id: str, sender: str, ours: str, inbound_id: str,
                    now: datetime) -> str | None:
    """The outbound message a reply answers: the latest we sent this number from this sender within the reply
    window; or, when the person keeps writing, the message their previous reply (within the window) answered.
    After a window of silence on both sides the conversation is closed and the reply stands alone.

    Sent means handed to the provider (``sent_at``): a message still queued (a campaign held by quiet hours)
    or never sent (skipped for consent, failed, cancelled, expired) is not what the person is answering, and
    one planned long ago and sent just now is."""
    window = timedelta(minutes=await keyword_rules.reply_window(session, workspace_id))
    latest = await session.scalar(
        select(Message.id).where(Message.workspace_id == workspace_id, Message.channel == "sms",
                                 Message.to_address == sender, Message.source != KEYWORD_SOURCE,
                                 Message.sent_at >= now - window,
                                 (Message.sender == ours) | Message.sender.is_(None))
        .order_by(Message.sent_at.desc(), Message.id.desc()).limit(1))
    if latest is not None:
        return str(latest)
    return await session.scalar(
        select(InboundMessage.in_reply_to).where(
            InboundMessage.workspace_id == workspace_id, InboundMessage.from_address == sender,
            InboundMessage.to_address == ours, InboundMessage.id != inbound_id,
            InboundMessage.received_at >= now - window, InboundMessage.in_reply_to.is_not(None))
        .order_by(InboundMessage.id.desc()).limit(1))


def _phone(raw: str, region: str) -> str:
    try:
        return addresses.phone_e164(raw, region, field="From")
    except errors.Invalid:
        return raw.strip()[:320]  # short codes and alphanumeric senders are kept as they came
