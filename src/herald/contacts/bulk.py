"""Upserting contacts (and their list rows) in batches: the path of the API, list adds and CSV imports.

One SELECT finds the batch's existing contacts by key, Python decides per row what changes, and at most two
multi-row statements per table write it: an import of a million rows costs a few hundred round trips, not
millions. Consent follows :func:`herald.contacts.consent.merge_soft`: a batch never re-grants what a
contact withdrew. Re-running the same batch changes nothing and reports every row ``unchanged``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Table, TextClause, bindparam, select, text, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.selectable import TextualSelect

from herald import errors
from herald.contacts.consent import merge_soft
from herald.contacts.fields import Cleaned
from herald.contacts.models import Contact
from herald.db import jsondoc, raw
from herald.db.fastinsert import insert_rows
from herald.ids import new_ids
from herald.lists.models import ListMember

CONTACTS = cast(Table, Contact.__table__)
MEMBERS = cast(Table, ListMember.__table__)
KEYS = ("external_id", "email", "phone")
_COLUMNS = ("external_id", "name", "email", "phone", "locale", "timezone", "birthday", "attributes", "consent")
_NAMES = ("id", *_COLUMNS)
CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


@dataclass(slots=True)
class Item:
    cleaned: Cleaned
    fields: dict[str, Any] | None = None
    """The list row's own fields (with ``list_id``); ``None`` leaves them as they are."""
    priority: bool | None = None
    contact_id: str | None = None
    """An existing contact to use as it is (only its list row changes)."""


@dataclass(slots=True)
class Result:
    contact_id: str
    status: str


@dataclass(slots=True)
class _Plan:
    """What a batch changes: the contacts to create and to update, and each item's result."""

    now: datetime
    creates: dict[str, dict[str, Any]]
    changes: dict[str, dict[str, Any]]
    results: list[Result]


async def upsert(db: AsyncSession | AsyncConnection, workspace_id: str, items: Sequence[Item], *, key: str,
                 list_id: str | None = None, source: str = "api") -> list[Result]:
    """Create or update one contact per item, matched on ``key``; items whose key value repeats in the
    batch update the same contact in order (the last statement wins)."""
    # Core statements on the connection: the ORM session's bulk path costs more than the rows themselves.
    conn = await db.connection() if isinstance(db, AsyncSession) else db
    plan = await _plan(conn, workspace_id, items, key=key, source=source)
    await _write(conn, plan)
    if list_id is not None:
        member_changed = await _members(conn, list_id, items, plan.results, plan.now, fresh=set(plan.creates))
        for index in member_changed:
            if plan.results[index].status == UNCHANGED:
                plan.results[index].status = UPDATED
    return plan.results


async def _plan(conn: AsyncConnection, workspace_id: str, items: Sequence[Item], *, key: str,
                source: str) -> _Plan:
    if key not in KEYS:
        raise ValueError(f"unknown key {key!r}")
    now = datetime.now(UTC)
    wanted = {match for item in items if (match := item.cleaned.values.get(key))}
    found = await _existing(conn, workspace_id, key, wanted) if wanted else {}
    plan = _Plan(now, {}, {}, [])
    fresh_ids = iter(new_ids("ct", len(items)))
    for item in items:
        if item.contact_id is not None:
            plan.results.append(Result(item.contact_id, UNCHANGED))
            continue
        match = item.cleaned.values.get(key)
        current = found.get(match) if match else None
        if current is None:
            current = _new(next(fresh_ids), workspace_id, item.cleaned, source, now)
            plan.creates[current["id"]] = current
            if match:
                found[match] = current
            plan.results.append(Result(current["id"], CREATED))
            continue
        after = _apply(current, item.cleaned, source)
        if all(after[c] == current[c] for c in _COLUMNS):
            plan.results.append(Result(current["id"], UNCHANGED))
            continue
        current.update(after)
        if current["id"] not in plan.creates:
            plan.changes[current["id"]] = current
        plan.results.append(Result(current["id"], UPDATED))
    return plan


async def _write(conn: AsyncConnection, plan: _Plan) -> None:
    if plan.creates:
        await insert_rows(conn, CONTACTS, list(plan.creates.values()))
    await _update(conn, plan)


async def _update(conn: AsyncConnection, plan: _Plan) -> None:
    if plan.changes:
        await conn.execute(
            update(CONTACTS).where(CONTACTS.c.id == bindparam("b_id")).values(
                {c: bindparam(f"b_{c}") for c in (*_COLUMNS, "updated_at")}),
            [{"b_id": r["id"], "b_updated_at": plan.now, **{f"b_{c}": r[c] for c in _COLUMNS}}
             for r in plan.changes.values()])


async def upsert_settled(session: AsyncSession, workspace_id: str, items: Sequence[Item], *, key: str,
                         source: str = "api") -> list[Result]:
    """:func:`upsert` for requests that may race: when a concurrent request created one of the contacts first
    (its external id is unique), try again -- the next pass finds it. SQLite has one writer at a time, so no
    race there. On PostgreSQL the new contacts go in with ``ON CONFLICT DO NOTHING``: one that a concurrent
    request created first is left out instead of failing the transaction, so no savepoint is needed (two
    round trips of every group commit that creates a contact), and a batch that changes nothing (most
    events name contacts as they are) costs its one SELECT."""
    conn = await session.connection()
    if conn.dialect.name != "postgresql":
        return await upsert(conn, workspace_id, items, key=key, source=source)
    done: dict[str, str] = {}  # what this request did to each contact, over its passes
    for _ in range(3):
        plan = await _plan(conn, workspace_id, items, key=key, source=source)
        await _update(conn, plan)
        made = await _create(conn, list(plan.creates.values())) if plan.creates else set()
        for result in plan.results:  # a contact created in an earlier pass is found, unchanged, in the next
            if result.status != CREATED or result.contact_id in made:
                result.status = done[result.contact_id] = max(
                    result.status, done.get(result.contact_id, UNCHANGED), key=_RANK.index)
        if len(made) == len(plan.creates):
            return plan.results
    raise errors.Conflict("Other requests keep writing these contacts; retry.", code="contact_busy")


_RANK = (UNCHANGED, UPDATED, CREATED)
_CREATES = ("id", "workspace_id", *_COLUMNS, "erased_at", "created_at", "updated_at")


async def _create(conn: AsyncConnection, rows: list[dict[str, Any]]) -> set[str]:
    """PostgreSQL: insert new contacts, leaving out any whose external id exists (committed by a concurrent
    request while this one planned); answer the ids inserted."""
    found = await conn.exec_driver_sql(_create_sql(conn.dialect), (jsondoc.dumps(rows),))
    return {row[0] for row in found}


@cache
def _create_sql(dialect: Dialect) -> str:
    return f"{jsondoc.insert(CONTACTS, _CREATES, dialect)} ON CONFLICT DO NOTHING RETURNING id"


async def _existing(conn: AsyncConnection, workspace_id: str, key: str, wanted: set[str]) -> dict[str, dict[str, Any]]:
    """The batch's existing contacts by key value: one statement whose text never changes (the keys go in as
    one JSON array on SQLite, one array on PostgreSQL), so nothing is compiled per batch. No ORDER BY: it
    tempts PostgreSQL into walking the primary key of the whole table; the oldest contact per key (ids sort
    by creation) is picked here instead."""
    found: dict[str, dict[str, Any]] = {}
    rows = await _by_key(conn, workspace_id, key, wanted, _NAMES)
    at = _NAMES.index(key)
    for row in sorted(rows, key=itemgetter(0)):  # plain rows: a RowMapping per row cost a tenth of a batch
        found.setdefault(row[at], dict(zip(_NAMES, row, strict=True)))
    return found


def bare(item: Item, key: str) -> bool:
    """Whether the item names a contact by ``key`` and states nothing else about it: upserting it changes
    nothing on an existing contact, so :func:`known_ids` is all it needs."""
    cleaned = item.cleaned
    return (item.contact_id is None and item.fields is None and cleaned.values.keys() == {key}
            and not cleaned.consent and cleaned.attributes is None and cleaned.phone_timezone is None)


async def known_ids(session: AsyncSession, workspace_id: str, key: str, values: set[str]) -> dict[str, str]:
    """The id of the contact :func:`upsert` would match for each key value that has one, without reading the
    contacts' rows (their attributes and consent are JSON to decode): most events name a known contact by
    its external id alone, and need only its id."""
    found: dict[str, str] = {}
    rows = await _by_key(await session.connection(), workspace_id, key, values, ("id", key))
    for contact_id, value in rows:  # the oldest contact per value (ids sort by creation), as upsert picks it
        if value not in found or contact_id < found[value]:
            found[value] = contact_id
    return found


async def _by_key(conn: AsyncConnection, workspace_id: str, key: str, values: set[str],
                  names: tuple[str, ...]) -> Sequence[Sequence[Any]]:
    """``names`` of the workspace's unerased contacts whose ``key`` is one of ``values``."""
    if conn.dialect.name == "sqlite":
        return (await conn.execute(_lookup(key, names), {"workspace_id": workspace_id,
                                                         "keys": json.dumps(list(values))})).all()
    # PostgreSQL: on the transaction's psycopg connection, as plain tuples (every event of a group commit
    # looks its contact up here; SQLAlchemy's work per statement cost more than the statement).
    sql, params = _pg_lookup(key, names), {"workspace_id": workspace_id, "keys": list(values)}
    with raw.as_sqlalchemy(conn, sql, params):
        return list(await (await (await raw.driver(conn)).execute(sql, params)).fetchall())


@cache
def _pg_lookup(key: str, names: tuple[str, ...]) -> str:
    """The PostgreSQL lookup, in psycopg's placeholders. The keys are joined as rows, one index probe each:
    ``key = ANY(:keys)`` ran in 1.5 ms for 1,000 keys until psycopg prepared the statement (its fifth run)
    and the server switched to a generic plan, which cannot hash a parameter's array and compared every
    contact with every key (100-230 ms)."""
    columns = ", ".join(f"contacts.{name}" for name in names)
    return (f"SELECT {columns} FROM contacts JOIN unnest(CAST(%(keys)s AS VARCHAR[])) AS wanted(value) "  # noqa: S608
            f"ON contacts.{key} = wanted.value WHERE contacts.workspace_id = %(workspace_id)s "
            "AND contacts.erased_at IS NULL")


@cache
def _lookup(key: str, names: tuple[str, ...]) -> TextualSelect:
    """SQLite: the keys as one JSON array, so the statement's text never changes."""
    columns = ", ".join(f"contacts.{name}" for name in names)
    sql: TextClause = text(f"SELECT {columns} FROM contacts WHERE contacts.workspace_id = :workspace_id "  # noqa: S608
                           f"AND contacts.{key} IN (SELECT value FROM json_each(:keys)) AND contacts.erased_at IS NULL")
    return sql.columns(*(CONTACTS.c[name] for name in names))


def _new(contact_id: str, workspace_id: str, cleaned: Cleaned, source: str, now: datetime) -> dict[str, Any]:
    values = cleaned.values
    zone = values.get("timezone")
    return {"id": contact_id, "workspace_id": workspace_id, "external_id": values.get("external_id"),
            "name": values.get("name"), "email": values.get("email"), "phone": values.get("phone"),
            "locale": values.get("locale"), "timezone": cleaned.phone_timezone if zone is None else zone,
            "birthday": values.get("birthday"), "attributes": dict(cleaned.attributes or {}),
            "consent": merge_soft({}, cleaned.consent, source) if cleaned.consent else {}, "erased_at": None,
            "created_at": now, "updated_at": now}


def _apply(current: dict[str, Any], cleaned: Cleaned, source: str) -> dict[str, Any]:
    after = {c: current[c] for c in _COLUMNS}
    after.update({k: v for k, v in cleaned.values.items() if k in _COLUMNS and k != "external_id"})
    if not after["timezone"] and "timezone" not in cleaned.values:
        after["timezone"] = cleaned.phone_timezone or after["timezone"]
    if cleaned.attributes is not None:
        after["attributes"] = {**(current["attributes"] or {}), **cleaned.attributes}
    after["consent"] = merge_soft(current["consent"] or {}, cleaned.consent, source)
    return after


async def _members(db: AsyncConnection, list_id: str, items: Sequence[Item], results: list[Result],
                   now: datetime, *, fresh: set[str]) -> set[int]:
    """Add or update the list rows; answer the indexes of items whose row was added or changed. Contacts
    created in this batch (``fresh``) cannot be on the list yet, so only the others are looked up."""
    contact_ids = {r.contact_id for r in results} - fresh
    existing: dict[str, dict[str, Any]] = {}
    if contact_ids:
        query = select(MEMBERS.c.id, MEMBERS.c.contact_id, MEMBERS.c.fields, MEMBERS.c.priority).where(
            MEMBERS.c.list_id == list_id, MEMBERS.c.contact_id.in_(contact_ids))
        for found in (await db.execute(query)).mappings():
            existing[found["contact_id"]] = dict(found)
    adds: dict[str, dict[str, Any]] = {}
    changes: dict[str, dict[str, Any]] = {}
    touched: set[int] = set()
    for index, (item, result) in enumerate(zip(items, results, strict=True)):
        row: dict[str, Any] | None = existing.get(result.contact_id) or adds.get(result.contact_id)
        if row is None:
            adds[result.contact_id] = {"list_id": list_id, "contact_id": result.contact_id,
                                       "fields": dict(item.fields or {}), "priority": bool(item.priority),
                                       "created_at": now, "updated_at": now}
            touched.add(index)
            continue
        fields = {**row["fields"], **item.fields} if item.fields is not None else row["fields"]
        priority = row["priority"] if item.priority is None else item.priority
        if fields != row["fields"] or priority != row["priority"]:
            row["fields"], row["priority"] = fields, priority
            if result.contact_id not in adds:
                changes[result.contact_id] = row
            touched.add(index)
    if adds:
        await insert_rows(db, MEMBERS, list(adds.values()))
    if changes:
        await db.execute(
            update(MEMBERS).where(MEMBERS.c.id == bindparam("b_id")).values(
                fields=bindparam("b_fields"), priority=bindparam("b_priority"), updated_at=now),
            [{"b_id": r["id"], "b_fields": r["fields"], "b_priority": r["priority"]} for r in changes.values()])
    return touched
