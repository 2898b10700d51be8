"""The data-subject rights: export everything Herald holds about a contact; erase a contact's personal data
while the counts (messages sent, campaign totals) stay right.

Suppressions of the contact's addresses are kept on erasure: an opt-out must go on being honoured, and that
is the lawful basis for keeping the address on a suppression list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.auth.models import AuditLog
from herald.contacts.models import Contact
from herald.contacts.normalize import address_key
from herald.lists.models import ContactList, ListMember
from herald.messages import timeline
from herald.messages.models import CANCELLED, CLAIMABLE, MessageContent
from herald.messages.models import Message as Msg
from herald.suppressions.models import DncList, Suppression

ERASED = "erased"


async def export(session: AsyncSession, contact: Contact) -> dict[str, Any]:
    lists = (await session.execute(select(ContactList.id, ContactList.name, ListMember.fields, ListMember.priority)
                                   .join(ListMember, ListMember.list_id == ContactList.id)
                                   .where(ListMember.contact_id == contact.id))).all()
    messages = (await session.execute(select(Msg, MessageContent.content)
                                      .outerjoin(MessageContent, MessageContent.message_id == Msg.id)
                                      .where(Msg.contact_id == contact.id).order_by(Msg.id))).all()
    keys = [k for k in (address_key("sms", contact.phone) if contact.phone else None,
                        address_key("email", contact.email) if contact.email else None) if k]
    blocks = (await session.execute(select(Suppression, DncList.name).join(DncList)
                                    .where(Suppression.workspace_id == contact.workspace_id,
                                           Suppression.address.in_(keys)))).all() if keys else []
    trail = (await session.scalars(select(AuditLog).where(AuditLog.workspace_id == contact.workspace_id,
                                                          AuditLog.target == contact.id)
                                   .order_by(AuditLog.created_at))).all()
    return {
        "contact": {"id": contact.id, "external_id": contact.external_id, "name": contact.name,
                    "email": contact.email, "phone": contact.phone, "locale": contact.locale,
                    "timezone": contact.timezone,
                    "birthday": contact.birthday.isoformat() if contact.birthday else None,
                    "attributes": contact.attributes, "consent": contact.consent,
                    "created_at": contact.created_at.isoformat(), "updated_at": contact.updated_at.isoformat(),
                    "erased_at": contact.erased_at.isoformat() if contact.erased_at else None},
        "lists": [{"list_id": r[0], "name": r[1], "fields": r[2], "priority": r[3]} for r in lists],
        "messages": [{"id": m.id, "channel": m.channel, "to": m.to_address, "classification": m.classification,
                      "state": m.state, "reason": m.reason, "created_at": m.created_at.isoformat(),
                      "content": content} for m, content in messages],
        "suppressions": [{"list": name, "channel": s.channel, "address": s.address, "scope": s.scope,
                          "source": s.source, "reason": s.reason, "created_at": s.created_at.isoformat()}
                         for s, name in blocks],
        "audit": [{"action": a.action, "actor": a.actor, "detail": a.detail, "ip": a.ip,
                   "created_at": a.created_at.isoformat()} for a in trail],
    }


async def erase(session: AsyncSession, contact: Contact) -> int:
    """Remove the personal data; answer how many waiting messages were cancelled. Idempotent."""
    now = datetime.now(UTC)
    waiting = (await session.execute(
        update(Msg).where(Msg.contact_id == contact.id, Msg.state.in_(CLAIMABLE))
        .values(state=CANCELLED, reason=ERASED, explanation="Cancelled: the contact was erased", final_at=now,
                updated_at=now).returning(Msg.id))).scalars().all()
    for message_id in waiting:
        timeline.record(session, message_id, CANCELLED, now, "The contact was erased")
    ids = select(Msg.id).where(Msg.contact_id == contact.id).scalar_subquery()
    await session.execute(update(MessageContent).where(MessageContent.message_id.in_(ids)).values(content={}))
    await session.execute(update(Msg).where(Msg.contact_id == contact.id).values(to_address=ERASED, meta={}))
    await session.execute(delete(ListMember).where(ListMember.contact_id == contact.id))
    for name in ("external_id", "name", "email", "phone", "locale", "timezone", "birthday"):
        setattr(contact, name, None)
    contact.attributes, contact.consent = {}, {}
    contact.erased_at = contact.erased_at or now
    contact.updated_at = now
    return len(waiting)
