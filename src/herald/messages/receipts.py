"""Delivery receipts move a message forward only: duplicates and late, out-of-order reports change nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.channels.base import Receipt
from herald.contacts.normalize import address_key
from herald.messages import timeline
from herald.messages.models import (
    BOUNCED,
    COMPLAINED,
    DELIVERED,
    FAILED,
    QUEUED,
    RETRYING,
    SENDING,
    SENT,
    UNDELIVERED,
    Message,
)
from herald.suppressions import service as suppressions

# How far along each state is; a receipt may only move a message to a higher rank.
_RANK = {QUEUED: 0, RETRYING: 0, SENDING: 1, SENT: 2, DELIVERED: 3, UNDELIVERED: 3, BOUNCED: 3, COMPLAINED: 4}
# A provider's "failed" after it accepted the message means it never reached the handset.
_AFTER_ACCEPT = {FAILED: UNDELIVERED}


async def find(session: AsyncSession, provider_id: str, receipt: Receipt) -> Message | None:
    if receipt.herald_message_id:
        message = await session.get(Message, receipt.herald_message_id)
        if message is not None and message.provider_id == provider_id and (
            message.provider_message_id in (None, receipt.provider_message_id)
        ):
            return message
    return await session.scalar(
        select(Message).where(Message.provider_id == provider_id,
                              Message.provider_message_id == receipt.provider_message_id).limit(1)
    )


async def suppress(session: AsyncSession, message: Message, receipt: Receipt) -> None:
    """A hard bounce (the address cannot receive this channel) or a complaint puts the address on the
    workspace suppression list, so no later send (a campaign's next wave, another campaign) tries it again."""
    if message.state not in (BOUNCED, COMPLAINED):
        return
    target = await suppressions.workspace_list(session, message.workspace_id)
    source = "bounce" if message.state == BOUNCED else "complaint"
    await suppressions.add(session, target, [{
        "channel": message.channel, "address": address_key(message.channel, message.to_address), "scope": "all",
        "reason": (receipt.detail or source)[:500]}], source=source, actor=f"provider:{message.provider_id}")


def apply(session: AsyncSession, message: Message, receipt: Receipt) -> bool:
    """Apply ``receipt`` to ``message``; answer whether anything changed."""
    target = _AFTER_ACCEPT.get(receipt.state, receipt.state)
    if target not in _RANK or _RANK[target] <= _RANK.get(message.state, 99):
        return False
    now = datetime.now(UTC)
    message.state = target
    message.provider_message_id = message.provider_message_id or receipt.provider_message_id
    message.updated_at = now
    message.lease_until = None
    if target == SENT:
        message.sent_at = message.sent_at or now
    else:
        message.final_at = now
        message.sent_at = message.sent_at or now
    if target == DELIVERED:
        message.delivered_at = now
        message.reason = None
    else:
        message.reason = receipt.code or target
    message.explanation = receipt.detail or f"The provider reported {target}"
    timeline.record(session, message.id, target, now, message.explanation)
    return True
