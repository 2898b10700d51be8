"""Contact lists: create, find, and add members in batches through the one contact upsert path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors, ids
from herald.auth.models import Workspace
from herald.contacts import bulk, fields
from herald.contacts.models import Contact
from herald.lists.models import ContactList, ListMember
from herald.lists.schemas import ListOut, MemberIn, MembersReport


def to_out(lst: ContactList, members: int) -> ListOut:
    return ListOut(id=lst.id, name=lst.name, description=lst.description, fields=lst.fields or [],
                   members=members, created_at=lst.created_at, updated_at=lst.updated_at)


async def create(session: AsyncSession, workspace_id: str, name: str, description: str | None) -> ContactList:
    await _name_free(session, workspace_id, name)
    made = ContactList(id=ids.new_id("lst"), workspace_id=workspace_id, name=name, description=description,
                       fields=[])
    session.add(made)
    await session.flush()
    return made


async def _name_free(session: AsyncSession, workspace_id: str, name: str) -> None:
    taken = await session.scalar(select(ContactList.id).where(ContactList.workspace_id == workspace_id,
                                                              ContactList.name == name))
    if taken:
        raise errors.Conflict(f"A list named {name!r} exists already.", code="list_name_taken", field="name")


async def rename(session: AsyncSession, lst: ContactList, name: str) -> None:
    if name != lst.name:
        await _name_free(session, lst.workspace_id, name)
        lst.name = name


async def get(session: AsyncSession, workspace_id: str, ref: str) -> ContactList:
    found = await session.scalar(select(ContactList).where(
        ContactList.workspace_id == workspace_id, (ContactList.id == ref) | (ContactList.name == ref)))
    if found is None:
        raise errors.NotFound(f"No list {ref!r} in this workspace.", code="list_not_found")
    return found


async def sizes(session: AsyncSession, list_ids: Sequence[str]) -> dict[str, int]:
    if not list_ids:
        return {}
    rows = await session.execute(select(ListMember.list_id, func.count()).where(ListMember.list_id.in_(list_ids))
                                 .group_by(ListMember.list_id))
    return {r[0]: int(r[1]) for r in rows.all()}


def note_fields(lst: ContactList, names: Sequence[str]) -> None:
    """Remember the list's column names in first-seen order (campaigns check a message column against them)."""
    known = list(lst.fields or [])
    added = [n for n in names if n not in known]
    if added:
        lst.fields = [*known, *dict.fromkeys(added)]
        lst.updated_at = datetime.now(UTC)


async def add_members(session: AsyncSession, workspace: Workspace, lst: ContactList, members: Sequence[MemberIn],
                      key: str) -> MembersReport:
    """Upsert the members' contacts and list rows; a bad member is reported by index, the rest still go in."""
    if key not in bulk.KEYS:
        raise errors.Invalid(f"key must be one of {', '.join(bulk.KEYS)}.", code="invalid_key", field="key")
    failed: list[dict[str, Any]] = []
    items: list[bulk.Item] = []
    positions: list[int] = []
    by_id = await _existing(session, workspace.id, [m.contact_id for m in members if m.contact_id])
    for index, member in enumerate(members):
        try:
            items.append(_member_item(member, workspace.default_region, key, by_id))
        except errors.Invalid as exc:
            failed.append({"index": index, "code": exc.code, "message": exc.detail, "errors": exc.errors or []})
            continue
        positions.append(index)
    results = await bulk.upsert(session, workspace.id, items, key=key, list_id=lst.id, source="api")
    note_fields(lst, [name for m in members for name in m.fields])
    contact_ids: list[str | None] = [None] * len(members)
    for position, result in zip(positions, results, strict=True):
        contact_ids[position] = result.contact_id
    count = {s: sum(1 for r in results if r.status == s) for s in (bulk.CREATED, bulk.UPDATED, bulk.UNCHANGED)}
    return MembersReport(created=count[bulk.CREATED], updated=count[bulk.UPDATED], unchanged=count[bulk.UNCHANGED],
                         failed=failed, contact_ids=contact_ids)


async def _existing(session: AsyncSession, workspace_id: str, contact_ids: Sequence[str]) -> dict[str, Contact]:
    if not contact_ids:
        return {}
    rows = await session.scalars(select(Contact).where(Contact.workspace_id == workspace_id,
                                                       Contact.id.in_(set(contact_ids)), Contact.erased_at.is_(None)))
    return {c.id: c for c in rows}


def _member_item(member: MemberIn, region: str, key: str, by_id: dict[str, Contact]) -> bulk.Item:
    if (member.contact is None) == (member.contact_id is None):
        raise errors.Invalid("Give either 'contact' or 'contact_id'.", code="member_contact_required",
                             field="contact")
    if member.contact_id is not None:
        if member.contact_id not in by_id:
            raise errors.Invalid(f"No contact {member.contact_id!r} in this workspace.", code="contact_not_found",
                                 field="contact_id")
        return bulk.Item(fields.Cleaned(), fields=member.fields, priority=member.priority,
                         contact_id=member.contact_id)
    assert member.contact is not None
    raw = member.contact.model_dump(exclude_unset=True, exclude={"attributes", "consent"})
    cleaned = fields.clean(raw, region, consent=member.contact.consent, attributes=member.contact.attributes)
    if not cleaned.values.get(key):
        raise errors.Invalid(f"The contact has no {key}, which this call matches contacts on.", code="missing_key",
                             field=f"contact.{key}")
    return bulk.Item(cleaned, fields=member.fields, priority=member.priority)
