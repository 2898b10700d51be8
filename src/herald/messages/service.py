"""Creating and reading messages. The only path by which the API puts a message in the queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors, ids, pagination
from herald.auth.models import Workspace
from herald.auth.service import audit
from herald.channels.base import CHANNELS
from herald.crypto import Keyring
from herald.db import memo
from herald.messages import content as contents
from herald.messages import pending, timeline
from herald.messages.filters import Filter
from herald.messages.models import (
    CONTENTS,
    FAILED,
    MESSAGES,
    QUEUED,
    SKIPPED,
    Attempt,
    Message,
    MessageContent,
    MessageEvent,
)
from herald.messages.schemas import CLASSIFICATIONS, MessageCreate
from herald.pipeline import plan as plan_steps
from herald.pipeline.policy import MARKETING
from herald.providers.models import Provider
from herald.templates.liquid import Renderer
from herald.unsubscribe import links as unsubscribe_links

SUPPORTED = ("sms", "email", "queue", "webhook")


@dataclass(frozen=True, slots=True)
class Links:
    """Signs per-recipient unsubscribe links for marketing email, and the dynamic links templates place."""

    keyring: Keyring
    public_url: str

    def url(self, workspace_id: str, message_id: str, contact_id: str, purpose: str, *, grant: bool = False) -> str:
        token = unsubscribe_links.token_for(self.keyring, workspace_id=workspace_id, message_id=message_id,
                                            contact_id=contact_id, purpose=purpose, grant=grant)
        return unsubscribe_links.url_for(self.public_url, token)

    def dynamic(self, workspace_id: str, message_id: str, contact_id: str) -> dict[str, dict[str, str]]:
        """``message.links`` of a template (seed 002's dynamic links): ``opt_in`` and ``opt_out`` URLs for
        direct and affiliate marketing, each signed for this recipient."""
        return {way: {p: self.url(workspace_id, message_id, contact_id, p, grant=way == "opt_in")
                      for p in unsubscribe_links.DYNAMIC} for way in ("opt_in", "opt_out")}
PAST_TOLERANCE = timedelta(seconds=60)


async def pick_provider(session: AsyncSession, workspace_id: str, channel: str, wanted: str | None) -> Provider:
    query = select(Provider).where(Provider.workspace_id == workspace_id, Provider.channel == channel,
                                   Provider.enabled.is_(True))
    if wanted:
        query = query.where(or_(Provider.id == wanted, Provider.name == wanted))
    provider = await session.scalar(query.order_by(Provider.priority.desc(), Provider.created_at).limit(1))
    if provider is None:
        what = f"no enabled {channel} provider named {wanted!r}" if wanted else f"no enabled {channel} provider"
        raise errors.Invalid(f"This workspace has {what}; configure one under /v1/providers.",
                             code="no_provider", field="provider" if wanted else "channel")
    return provider


@dataclass(slots=True)
class Planned:
    """A message ready to store: its row (every column, by the table's column names) and content."""

    row: dict[str, Any]
    content: dict[str, Any]
    failure: str | None = None
    """Why the template could not be rendered for this recipient (the message is ``failed``)."""
    problems: list[dict[str, Any]] | None = None


async def create(session: AsyncSession, workspace: Workspace, req: MessageCreate, *, source: str = "api",
                 renderer: Renderer | None = None, sms_max_segments: int = 10, actor: str = "api",
                 links: Links | None = None, source_id: str | None = None) -> Message:
    """Validate, render and queue one message. A template that fails to render for this recipient (a
    missing variable, a limit) gives a message that is stored as ``failed`` with reason ``render_error``:
    it is never sent half-rendered. A recipient the rules block (consent, suppressions, DNC lists) gives a
    ``skipped`` message that says why."""
    planned = await plan(session, workspace, req, source=source, renderer=renderer,
                         sms_max_segments=sms_max_segments, actor=actor, links=links, source_id=source_id)
    fields = dict(planned.row)
    fields["meta"] = fields.pop("metadata")  # the attribute's name; the column's is ``metadata``
    message = Message(**fields)
    session.add(message)
    session.add(MessageContent(message_id=message.id, content=planned.content))
    timeline.record(session, message.id, message.state, message.created_at, message.explanation)
    if planned.failure:
        await session.flush()
        raise errors.RenderFailed(message.explanation or planned.failure, message_id=message.id,
                                  errors=planned.problems)
    return message


async def queue(session: AsyncSession, workspace: Workspace, req: MessageCreate, *, source: str,
                renderer: Renderer | None, sms_max_segments: int, actor: str, links: Links | None,
                source_id: str | None) -> dict[str, Any]:
    """:func:`create` for paths that plan many messages in a transaction and never read them back in it (a
    trigger's send steps): the message is stored with the session's next flush as plain rows
    (:mod:`herald.messages.pending`), without an ORM object, and a render failure is not raised (the
    message is stored ``failed``, as :func:`create` stores it). Answers the row, which may still be changed
    until then."""
    planned = await plan(session, workspace, req, source=source, renderer=renderer,
                         sms_max_segments=sms_max_segments, actor=actor, links=links, source_id=source_id)
    row = planned.row
    pending.add(session, MESSAGES, row)
    pending.add(session, CONTENTS, {"message_id": row["id"], "content": planned.content})
    timeline.record(session, row["id"], row["state"], row["created_at"], row["explanation"])
    return row


async def plan(session: AsyncSession, workspace: Workspace, req: MessageCreate, *, source: str,
               renderer: Renderer | None, sms_max_segments: int, actor: str, links: Links | None,
               source_id: str | None) -> Planned:
    """Check, plan (consent, suppressions, DNC lists) and render one message, without storing it."""
    if req.channel not in CHANNELS:
        raise errors.Invalid(f"Unknown channel {req.channel!r}; use one of {', '.join(CHANNELS)}.",
                             code="unknown_channel", field="channel")
    if req.channel not in SUPPORTED:
        raise errors.Invalid(f"Sending {req.channel} through this endpoint is not available yet.",
                             code="channel_not_supported", field="channel")
    if req.classification not in CLASSIFICATIONS:
        raise errors.Invalid(f"Unknown classification {req.classification!r}; use one of "
                             f"{', '.join(CLASSIFICATIONS)}.", code="unknown_classification",
                             field="classification")
    now = datetime.now(UTC)
    send_at = pagination.aware(req.send_at, "send_at")
    expires_at = pagination.aware(req.expires_at, "expires_at")
    if send_at is not None and send_at < now - PAST_TOLERANCE:
        raise errors.Invalid("send_at is in the past.", code="send_at_in_past", field="send_at")
    due = max(send_at, now) if send_at else now
    if expires_at is not None and expires_at <= due:
        code, what = (("expires_before_send_at", "send_at") if send_at else ("expires_in_past", "now"))
        raise errors.Invalid(f"expires_at must be after {what}.", code=code, field="expires_at")
    who = await plan_steps.recipient(session, workspace, req.channel, req.to,
                                     req.contact.model_dump() if req.contact else None)
    dnc_lists = await plan_steps.dnc_selection(session, workspace.id, req.dnc_lists)
    provider = await memo.once(session, ("provider", workspace.id, req.channel, req.provider),
                               lambda: pick_provider(session, workspace.id, req.channel, req.provider))
    message_id = ids.new_id("msg")
    block = await plan_steps.gate(session, workspace.id, req.channel, who, req.classification,
                                  override=req.override, dnc_lists=dnc_lists, source=source)
    unsubscribe = None
    if links is not None and who.contact is not None and req.channel == "email" and req.classification in MARKETING:
        unsubscribe = links.url(workspace.id, message_id, who.contact.id, req.classification)
    made = await contents.build(session, workspace, req, message_id=message_id, to=who.address, renderer=renderer,
                                sms_max_segments=sms_max_segments, contact=who.contact, unsubscribe_url=unsubscribe,
                                dynamic_links=links)
    state, reason, final_at = QUEUED, None, None
    if block is not None:
        state, reason, final_at = SKIPPED, block.reason, now
        explanation = f"Not sent: {block.explanation}"
    elif made.failure:
        state, reason, final_at = FAILED, "render_error", now
        explanation = f"Not sent: the template could not be rendered for this recipient ({made.failure})"
    else:
        when = f"scheduled for {due.isoformat()}" if due > now else "queued"
        explanation = f"Accepted and {when}; it will go out through {provider.kind} ({provider.name})."
    if req.override and block is None:
        audit(session, workspace.id, actor, "message.override", message_id,
              {"classification": req.classification, "channel": req.channel})
    row = {
        "id": message_id, "workspace_id": workspace.id, "source": source, "source_id": source_id,
        "source_item": None, "channel": req.channel, "provider_id": provider.id,
        "contact_id": who.contact.id if who.contact else None, "to_address": who.address, "sender": req.sender,
        "classification": req.classification, "priority": req.priority, "override": req.override,
        "dnc_lists": dnc_lists or None, "metadata": req.metadata, "template_id": made.template_id,
        "template_version": made.version, "locale": made.locale, "state": state, "reason": reason,
        "explanation": explanation, "due_at": due, "expires_at": expires_at, "attempts": 0, "lease_until": None,
        "lease_token": None, "provider_message_id": None, "created_at": now, "updated_at": now, "sent_at": None,
        "delivered_at": None, "final_at": final_at}
    failure = made.failure if block is None else None
    return Planned(row, made.content, failure, made.problems if failure else None)


async def bulk_enqueue(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert many ready message rows at once (each with its ``content``), for fan-outs and benchmarks:
    two multi-row INSERTs instead of an ORM object per message."""
    if not rows:
        return
    # ``meta`` (the ORM attribute) is the table's ``metadata`` column: a Core insert drops unknown keys silently.
    await session.execute(insert(MESSAGES), [{("metadata" if k == "meta" else k): v for k, v in r.items()
                                              if k != "content"} for r in rows])
    await session.execute(insert(CONTENTS), [{"message_id": r["id"], "content": r["content"]} for r in rows])


async def content_of(session: AsyncSession, message_id: str) -> dict[str, Any]:
    row = await session.get(MessageContent, message_id)
    return dict(row.content) if row else {}


async def get(session: AsyncSession, workspace_id: str, message_id: str) -> Message:
    message = await session.get(Message, message_id)
    if message is None or message.workspace_id != workspace_id:
        raise errors.NotFound(f"No message {message_id!r} in this workspace.", code="message_not_found")
    return message


async def history(session: AsyncSession, message_id: str) -> tuple[list[MessageEvent], list[Attempt]]:
    events = (await session.scalars(
        select(MessageEvent).where(MessageEvent.message_id == message_id).order_by(MessageEvent.id)
    )).all()
    attempts = (await session.scalars(
        select(Attempt).where(Attempt.message_id == message_id).order_by(Attempt.id)
    )).all()
    return list(events), list(attempts)


async def page(session: AsyncSession, workspace_id: str, shown: Filter, *, limit: int,
               cursor: str | None) -> tuple[list[Message], str | None]:
    """Newest first; ``next_cursor`` continues after the last row."""
    query = select(Message).where(*shown.where(workspace_id))
    return await pagination.newest_first(session, query, Message.id, "msg", limit=limit, cursor=cursor)
