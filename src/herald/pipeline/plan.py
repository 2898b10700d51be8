"""The plan step for one recipient: resolve the address for the channel, then consent, suppressions and DNC
lists (:mod:`herald.pipeline.policy`). Every source goes through here before a message row is written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald import addresses, errors
from herald.auth.models import Workspace
from herald.channels.base import SYSTEM_CHANNELS
from herald.contacts import normalize
from herald.contacts import service as contacts
from herald.contacts.models import Contact
from herald.pipeline import policy
from herald.suppressions.models import DNC, DncList


@dataclass(slots=True)
class Recipient:
    address: str
    """The address as sent to (E.164, normalised email); empty when there is none."""
    key: str
    contact: Contact | None
    missing: policy.Block | None = None
    """Set when the contact has no usable address for the channel."""


async def recipient(session: AsyncSession, workspace: Workspace, channel: str, to: str | None,
                    ref: dict[str, str | None] | None) -> Recipient:
    if (to is None) == (ref is None):
        raise errors.Invalid("Give either 'to' (an address) or 'contact', not both.", code="recipient_required",
                             field="to")
    if ref is None:
        assert to is not None
        if channel in SYSTEM_CHANNELS:  # the recipient as the receiving system knows them
            address = _system_reference(to)
            return Recipient(address, address, None)
        # Emails lower-cased whole, as contacts store them: one spelling per address for the interactions
        # view's filter, the notification history and reply threading.
        address = (addresses.phone_e164(to, workspace.default_region) if channel == "sms"
                   else addresses.email(to).lower())
        key = normalize.address_key(channel, address)
        contact = (await contacts.by_address(session, workspace.id, channel, key)
                   if channel in ("sms", "email") else None)
        return Recipient(address, key, contact)
    contact = await contacts.find(session, workspace, {k: v for k, v in ref.items() if v})
    address = address_of(contact, channel)
    if contact.erased_at is not None:
        return Recipient("", "", contact, policy.Block("erased", "erased: the contact's personal data was erased"))
    if not address:
        what = "phone number" if channel == "sms" else "email address"
        return Recipient("", "", contact, policy.Block("no_address", f"no_address: the contact has no {what}"))
    return Recipient(address, normalize.address_key(channel, address), contact)


def address_of(contact: Contact, channel: str) -> str:
    """Where a message to this contact goes on the channel ("" when it has no such address). A queue entry
    or webhook names the contact as the customer's own systems do: its external id, else Herald's id."""
    if channel in SYSTEM_CHANNELS:
        return contact.external_id or contact.id
    return (contact.phone if channel == "sms" else contact.email if channel == "email" else None) or ""


def _system_reference(to: str) -> str:
    cleaned = to.strip()
    if not cleaned or any(ord(ch) < 32 for ch in cleaned):
        raise errors.Invalid("'to' must name the recipient as the receiving system knows them (no control "
                             "characters).", code="invalid_address", field="to")
    return cleaned


async def dnc_selection(session: AsyncSession, workspace_id: str, refs: Sequence[str]) -> list[str]:
    """The ids of the named optional DNC lists; an unknown name is refused, never silently ignored."""
    if not refs:
        return []
    rows = (await session.execute(select(DncList.id, DncList.name).where(
        DncList.workspace_id == workspace_id, DncList.kind == DNC,
        or_(DncList.id.in_(refs), DncList.name.in_(refs))))).all()
    known = {r[0] for r in rows} | {r[1] for r in rows}
    unknown = [r for r in refs if r not in known]
    if unknown:
        raise errors.Invalid(f"Unknown do-not-contact list(s): {', '.join(unknown)}.", code="dnc_list_not_found",
                             field="dnc_lists")
    return sorted({r[0] for r in rows})


async def gate(session: AsyncSession, workspace_id: str, channel: str, who: Recipient, classification: str, *,
               override: bool, dnc_lists: Sequence[str], source: str = "api") -> policy.Block | None:
    """Why this message must not go, or None."""
    if who.missing is not None:
        return who.missing
    entries = await policy.entries_of(session, workspace_id, who.key)
    contact = who.contact
    subject = policy.Subject(
        channel=channel, address=who.key, classification=classification, override=override,
        consent=(contact.consent or {}) if contact is not None else None,
        erased=contact is not None and contact.erased_at is not None, dnc_lists=dnc_lists,
        answer=source == policy.ANSWER_SOURCE)
    return policy.decide(subject, entries)
