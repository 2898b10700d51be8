"""Event types: create, change, find. A type's schema and sample are checked when saved, not when the first
event breaks them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors, ids
from herald.auth.service import audit
from herald.events import payloads
from herald.events.models import Event, EventType
from herald.events.schemas import EventTypeIn, EventTypeOut, EventTypePatch


def to_out(t: EventType) -> EventTypeOut:
    return EventTypeOut(id=t.id, name=t.name, description=t.description, payload_schema=t.schema, sample=t.sample,
                        created_by=t.created_by, created_at=t.created_at, updated_at=t.updated_at)


def _check(schema: dict[str, object] | None, sample: dict[str, object] | None) -> None:
    if schema is not None:
        payloads.check_schema(schema)
    if schema and sample is not None:
        found = payloads.problems(schema, sample, prefix="sample")
        if found:
            raise errors.Invalid(f"The sample breaks the schema: {found[0]['field']}: {found[0]['message']}",
                                 code="sample_violates_schema", errors=found)


async def create(session: AsyncSession, workspace_id: str, req: EventTypeIn, actor: str) -> EventType:
    _check(req.payload_schema, req.sample)
    taken = await session.scalar(select(EventType.id).where(EventType.workspace_id == workspace_id,
                                                            EventType.name == req.name))
    if taken:
        raise errors.Conflict(f"An event type named {req.name!r} exists.", code="event_type_exists", field="name")
    now = datetime.now(UTC)
    t = EventType(id=ids.new_id("evt"), workspace_id=workspace_id, name=req.name, description=req.description,
                  schema=req.payload_schema, sample=req.sample, created_by=actor, created_at=now, updated_at=now)
    session.add(t)
    audit(session, workspace_id, actor, "event_type.create", t.id, {"name": t.name})
    return t


async def patch(session: AsyncSession, t: EventType, req: EventTypePatch, actor: str) -> EventType:
    given = req.model_fields_set
    schema = req.payload_schema if "payload_schema" in given else t.schema
    sample = req.sample if "sample" in given else t.sample
    _check(schema, sample)
    if req.description is not None:
        t.description = req.description
    t.schema, t.sample, t.updated_at = schema, sample, datetime.now(UTC)
    audit(session, t.workspace_id, actor, "event_type.update", t.id, {"fields": sorted(given)})
    return t


async def get(session: AsyncSession, workspace_id: str, ref: str) -> EventType:
    t = await session.scalar(select(EventType).where(EventType.workspace_id == workspace_id,
                                                     or_(EventType.id == ref, EventType.name == ref)))
    if t is None:
        raise errors.NotFound(f"No event type {ref!r} in this workspace.", code="event_type_not_found")
    return t


async def by_names(session: AsyncSession, workspace_id: str, names: set[str]) -> dict[str, EventType]:
    rows = await session.scalars(select(EventType).where(EventType.workspace_id == workspace_id,
                                                         EventType.name.in_(names)))
    return {t.name: t for t in rows}


async def delete(session: AsyncSession, t: EventType, actor: str) -> None:
    """Only a type no trigger uses may go; its stored events stay (they are history)."""
    from herald.triggers.models import Trigger

    used = await session.scalar(select(Trigger.name).where(Trigger.workspace_id == t.workspace_id,
                                                           Trigger.event_type == t.name).limit(1))
    if used:
        raise errors.Conflict(f"Trigger {used!r} uses this event type; change or delete it first.",
                              code="event_type_in_use")
    await session.delete(t)
    audit(session, t.workspace_id, actor, "event_type.delete", t.id, {"name": t.name})


async def event(session: AsyncSession, workspace_id: str, event_id: str) -> Event:
    found = await session.get(Event, event_id)
    if found is None or found.workspace_id != workspace_id:
        raise errors.NotFound(f"No event {event_id!r} in this workspace.", code="event_not_found")
    return found
