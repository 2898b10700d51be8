"""Contacts: upsert, find, change, and the contact a message is addressed to."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from herald import errors, pagination
from herald.auth.models import Workspace
from herald.auth.service import audit
from herald.contacts import bulk, fields
from herald.contacts.models import Contact
from herald.contacts.schemas import ContactIn, ContactOut, ContactPatch

LOOKUPS = ("id", "external_id", "email", "phone")


def to_out(c: Contact) -> ContactOut:
    return ContactOut(
        id=c.id, external_id=c.external_id, name=c.name, email=c.email, phone=c.phone, locale=c.locale,
        timezone=c.timezone, birthday=c.birthday, attributes=c.attributes or {}, consent=c.consent or {},
        erased=c.erased_at is not None, created_at=c.created_at, updated_at=c.updated_at)


def variables(c: Contact) -> dict[str, Any]:
    """What templates see as ``contact``: its fields and free attributes (attributes never shadow fields)."""
    return {**(c.attributes or {}), "id": c.id, "external_id": c.external_id, "name": c.name, "email": c.email,
            "phone": c.phone, "locale": c.locale, "timezone": c.timezone,
            "birthday": c.birthday.isoformat() if c.birthday else None,
            "first_name": (c.name or "").split(" ")[0] or None}


async def upsert(session: AsyncSession, workspace: Workspace, req: ContactIn) -> tuple[Contact, str]:
    """Create, or update the contact holding ``external_id``; answers the contact and created|updated|unchanged."""
    raw = req.model_dump(exclude_unset=True, exclude={"attributes", "consent"})
    cleaned = fields.clean(raw, workspace.default_region, consent=req.consent, attributes=req.attributes)
    result = (await bulk.upsert_settled(session, workspace.id, [bulk.Item(cleaned)], key="external_id"))[0]
    contact = await session.get(Contact, result.contact_id, populate_existing=True)
    assert contact is not None
    return contact, result.status


async def update(session: AsyncSession, workspace: Workspace, contact: Contact, req: ContactPatch) -> Contact:
    if contact.erased_at is not None:
        raise errors.Conflict("This contact was erased; it cannot be changed.", code="contact_erased")
    raw = req.model_dump(exclude_unset=True, exclude={"attributes"})
    cleaned = fields.clean(raw, workspace.default_region, attributes=req.attributes)
    for name, value in cleaned.values.items():
        if name in ("name", "email", "phone", "locale", "timezone", "birthday"):
            setattr(contact, name, value)
    if not contact.timezone and cleaned.phone_timezone and "timezone" not in cleaned.values:
        contact.timezone = cleaned.phone_timezone
    if cleaned.attributes is not None:
        contact.attributes = {**(contact.attributes or {}), **cleaned.attributes}
    contact.updated_at = datetime.now(UTC)
    return contact


async def get(session: AsyncSession, workspace_id: str, contact_id: str) -> Contact:
    contact = _loaded(session, contact_id) or await session.get(Contact, contact_id)
    if contact is None or contact.workspace_id != workspace_id:
        raise errors.NotFound(f"No contact {contact_id!r} in this workspace.", code="contact_not_found")
    return contact


def _loaded(session: AsyncSession, contact_id: str) -> Contact | None:
    """The session's own copy of the contact, when it has one whose attributes are all loaded: a trigger's send
    step names the contact its event locked, and ``AsyncSession.get`` costs a greenlet hop even for that."""
    found = session.identity_map.get(identity_key(Contact, (contact_id,)))
    return found if isinstance(found, Contact) and not inspect(found).expired_attributes else None


async def find(session: AsyncSession, workspace: Workspace, ref: dict[str, str]) -> Contact:
    """The contact named by exactly one of ``id``, ``external_id``, ``email``, ``phone``."""
    given = [(k, v) for k, v in ref.items() if v]
    if len(given) != 1 or given[0][0] not in LOOKUPS:
        raise errors.Invalid(f"Name a contact by exactly one of {', '.join(LOOKUPS)}.", code="invalid_contact_ref",
                             field="contact")
    name, value = given[0]
    if name == "id":
        return await get(session, workspace.id, value)
    if name in ("email", "phone"):
        value = fields.clean({name: value}, workspace.default_region).values[name]
    column = getattr(Contact, name)
    contact = await session.scalar(select(Contact).where(
        Contact.workspace_id == workspace.id, column == value, Contact.erased_at.is_(None)).order_by(Contact.id)
        .limit(1))
    if contact is None:
        raise errors.NotFound(f"No contact with {name} {value!r} in this workspace.", code="contact_not_found",
                              field=f"contact.{name}")
    return contact


async def by_address(session: AsyncSession, workspace_id: str, channel: str, address: str) -> Contact | None:
    """The oldest live contact holding this address, for consent checks on sends to a raw address."""
    column = Contact.phone if channel == "sms" else Contact.email
    return await session.scalar(select(Contact).where(
        Contact.workspace_id == workspace_id, column == address, Contact.erased_at.is_(None))
        .order_by(Contact.id).limit(1))


async def page(session: AsyncSession, workspace_id: str, *, limit: int, cursor: str | None,
               filters: dict[str, str | None]) -> tuple[list[Contact], str | None]:
    query = select(Contact).where(Contact.workspace_id == workspace_id)
    for name, value in filters.items():
        if value:
            query = query.where(getattr(Contact, name) == value)
    return await pagination.newest_first(session, query, Contact.id, "ct", limit=limit, cursor=cursor)


def audit_change(session: AsyncSession, contact: Contact, actor: str, action: str, ip: str | None,
                 detail: dict[str, Any] | None = None) -> None:
    audit(session, contact.workspace_id, actor, action, contact.id, detail, ip=ip)
