"""Creating and reading messages. The only path by which the API puts a message in the queue."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald import addresses, errors, ids
from herald.auth.models import Workspace
from herald.channels.base import CHANNELS
from herald.messages import content as contents
from herald.messages.models import CONTENTS, FAILED, MESSAGES, QUEUED, Attempt, Message, MessageContent, MessageEvent
from herald.messages.schemas import CLASSIFICATIONS, MessageCreate
from herald.providers.models import Provider
from herald.templates.liquid import Renderer

SUPPORTED = ("sms", "email")
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


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise errors.Invalid(f"{field} needs a time zone (e.g. 2026-12-01T09:00:00Z).", code="timezone_required",
                             field=field)
    return value.astimezone(UTC) if value else None


async def create(session: AsyncSession, workspace: Workspace, req: MessageCreate, *, source: str = "api",
                 renderer: Renderer | None = None, sms_max_segments: int = 10) -> Message:
    """Validate, render and queue one message. A template that fails to render for this recipient (a
    missing variable, a limit) gives a message that is stored as ``failed`` with reason ``render_error``:
    it is never sent half-rendered."""
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
    to = (addresses.phone_e164(req.to, workspace.default_region) if req.channel == "sms"
          else addresses.email(req.to))
    now = datetime.now(UTC)
    send_at = _aware(req.send_at, "send_at")
    expires_at = _aware(req.expires_at, "expires_at")
    if send_at is not None and send_at < now - PAST_TOLERANCE:
        raise errors.Invalid("send_at is in the past.", code="send_at_in_past", field="send_at")
    due = max(send_at, now) if send_at else now
    if expires_at is not None and expires_at <= due:
        code, what = (("expires_before_send_at", "send_at") if send_at else ("expires_in_past", "now"))
        raise errors.Invalid(f"expires_at must be after {what}.", code=code, field="expires_at")
    provider = await pick_provider(session, workspace.id, req.channel, req.provider)
    message = Message(
        id=ids.new_id("msg"), workspace_id=workspace.id, source=source, channel=req.channel,
        provider_id=provider.id, to_address=to, sender=req.sender,
        classification=req.classification, priority=req.priority, meta=req.metadata, state=QUEUED,
        due_at=due, expires_at=expires_at, attempts=0, created_at=now, updated_at=now,
    )
    made = await contents.build(session, workspace, req, message_id=message.id, to=to, renderer=renderer,
                                sms_max_segments=sms_max_segments)
    message.template_id, message.template_version, message.locale = made.template_id, made.version, made.locale
    if made.failure:
        message.state, message.reason, message.final_at = FAILED, "render_error", now
        message.explanation = f"Not sent: the template could not be rendered for this recipient ({made.failure})"
    else:
        when = f"scheduled for {due.isoformat()}" if due > now else "queued"
        message.explanation = f"Accepted and {when}; it will go out through {provider.kind} ({provider.name})."
    session.add(message)
    session.add(MessageContent(message_id=message.id, content=made.content))
    session.add(MessageEvent(message_id=message.id, state=message.state, at=now, detail=message.explanation))
    if made.failure:
        await session.flush()
        raise errors.RenderFailed(message.explanation, message_id=message.id, errors=made.problems)
    return message


async def bulk_enqueue(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert many ready message rows at once (each with its ``content``), for fan-outs and benchmarks:
    two multi-row INSERTs instead of an ORM object per message."""
    if not rows:
        return
    await session.execute(insert(MESSAGES), [{k: v for k, v in r.items() if k != "content"} for r in rows])
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


def encode_cursor(message_id: str) -> str:
    return base64.urlsafe_b64encode(message_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except Exception as exc:
        raise errors.Invalid("The cursor is not one this API gave out.", code="invalid_cursor",
                             field="cursor") from exc
    if not value.startswith("msg_"):
        raise errors.Invalid("The cursor is not one this API gave out.", code="invalid_cursor", field="cursor")
    return value


async def page(
    session: AsyncSession, workspace_id: str, *, states: list[str], channel: str | None,
    created_after: datetime | None, created_before: datetime | None, limit: int, cursor: str | None,
) -> tuple[list[Message], str | None]:
    """Newest first; ``next_cursor`` continues after the last row."""
    query = select(Message).where(Message.workspace_id == workspace_id)
    if states:
        query = query.where(Message.state.in_(states))
    if channel:
        query = query.where(Message.channel == channel)
    if created_after:
        query = query.where(Message.created_at >= _aware(created_after, "created_after"))
    if created_before:
        query = query.where(Message.created_at < _aware(created_before, "created_before"))
    if cursor:
        query = query.where(Message.id < decode_cursor(cursor))
    rows = list((await session.scalars(query.order_by(Message.id.desc()).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].id) if more and rows else None
