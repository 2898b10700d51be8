"""Accepting events: check every one (type, payload schema, contact reference, time), store them, and act on
them in the same transaction (:mod:`herald.triggers.matching`). A batch is all or nothing: one bad event
refuses the batch with the path of each error (``events[3].payload.amount``), and nothing is stored.

An idempotency key makes a retry safe: the same key again answers the first event (``duplicate: true``) and
changes nothing; the same key with another type, contact or payload is refused (409)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors, ids, pagination
from herald.auth.models import Workspace
from herald.contacts import bulk, fields
from herald.contacts.models import Contact
from herald.db import jsondoc, memo
from herald.db.fastinsert import insert_rows
from herald.events.models import EVENTS, Event
from herald.events.opening import COLUMNS, Earlier
from herald.events.payloads import Checker
from herald.events.schemas import EventIn
from herald.messages import pending
from herald.pipeline import policy
from herald.triggers import config
from herald.triggers.engine import Context, Happened
from herald.triggers.matching import Matcher
from herald.triggers.sending import SendContext

FUTURE_TOLERANCE = timedelta(minutes=5)
KEYS = ("external_id", "email", "phone")
_REF_FIELDS = (*KEYS, "name", "locale", "timezone")  # EventContact's fields but its id


def to_out(e: Event | dict[str, Any], *, duplicate: bool = False, triggers: list[str] | None = None,
           runs: list[str] | None = None) -> dict[str, Any]:
    """The event as the API answers it (:class:`EventOut`), JSON-ready: a batch of 1,000 answers is built
    without validating 1,000 models that were made from checked data."""
    get = e.get if isinstance(e, dict) else lambda k: getattr(e, k)
    return {"id": get("id"), "type": get("type"), "contact_id": get("contact_id"), "payload": get("payload"),
            "occurred_at": _iso(get("occurred_at")), "received_at": _iso(get("received_at")),
            "idempotency_key": get("idempotency_key"), "duplicate": duplicate, "triggers": triggers or [],
            "runs": runs or []}


@lru_cache(maxsize=1024)
def _iso(when: Any) -> str:
    """Remembered: a batch's events share their received_at, and often their occurred_at."""
    return str(when.astimezone(UTC).isoformat()).replace("+00:00", "Z")


async def ingest(session: AsyncSession, workspace: Workspace, items: list[EventIn], *, ctx: SendContext,
                 batch: bool, now: datetime | None = None, earlier: Earlier | None = None,
                 defer: bool = False) -> list[dict[str, Any]]:
    """Check, store and act on ``items``; ``earlier`` is what :func:`herald.events.opening.opening` found
    (looked up here if None).

    ``defer``: the events are written with the journeys' runs and messages, in the transaction's last
    statement (:mod:`herald.messages.pending`), instead of in one of their own before them: a round trip and
    a statement less for each group commit. Only when no journey they move reads stored events (a counter, a
    wait for an event), and at the price of an idempotency race: an event whose key a concurrent request
    stored first then fails the commit (``IntegrityError``) instead of answering that event, so the caller
    must try again without ``defer`` (:mod:`herald.events.coalesce` does)."""
    now = now or datetime.now(UTC)

    def prefix(i: int) -> str:
        return f"events[{i}]." if batch else ""

    when = [_occurred(item, now, prefix(i)) for i, item in enumerate(items)]
    current = await config.current(session, workspace)
    _check(current.types, items, prefix)
    session.info[memo.SHARED] = current.lookups  # provider and template lookups of the messages planned
    if earlier is None:
        keys = {i.idempotency_key for i in items if i.idempotency_key}
        earlier = {str(e.idempotency_key): e for e in (await session.scalars(
            _EARLIER, {"workspace_id": workspace.id, "keys": list(keys)})).all()} if keys else {}
    fresh = [i for i, item in enumerate(items) if not item.idempotency_key or item.idempotency_key not in earlier]
    found = await _contacts(session, workspace, [items[i] for i in fresh], [prefix(i) for i in fresh])
    contact_ids = {fresh[j]: contact_id for j, contact_id in found.items()}
    outs: dict[int, dict[str, Any]] = {}
    rows: list[tuple[int, dict[str, Any]]] = []
    by_key: dict[str, dict[str, Any]] = {}
    fresh_ids = iter(ids.new_ids("ev", len(items)))
    for i, item in enumerate(items):
        key = item.idempotency_key
        first: Event | dict[str, Any] | None = (earlier.get(key) or by_key.get(key)) if key else None
        if first is not None:
            _same(first, item, contact_ids.get(i), f"{prefix(i)}idempotency_key")
            outs[i] = to_out(first, duplicate=True)
            continue
        row: dict[str, Any] = {
            "id": next(fresh_ids), "workspace_id": workspace.id, "type": item.type, "contact_id": contact_ids[i],
            "payload": item.payload, "occurred_at": when[i], "received_at": now, "idempotency_key": key}
        rows.append((i, row))
        if key:
            by_key[key] = row
    matcher = await Matcher.load(Context(session, workspace, ctx, now))
    if defer and not matcher.reads_events({row["type"] for _, row in rows}):
        for _, row in rows:
            pending.add(session, EVENTS, row)
        stored = {row["id"] for _, row in rows}
    else:
        stored = await _store(session, [row for _, row in rows])
    acted: list[tuple[int, Happened]] = []
    for i, row in rows:
        if row["id"] in stored:
            acted.append((i, Happened(row["id"], row["type"], row["contact_id"], row["payload"], row["occurred_at"])))
            continue
        # A concurrent request stored an event with this key first: this one is its repeat.
        first = await session.scalar(select(Event).where(Event.workspace_id == workspace.id,
                                                         Event.idempotency_key == row["idempotency_key"]))
        assert first is not None
        _same(first, items[i], row["contact_id"], f"{prefix(i)}idempotency_key")
        outs[i] = to_out(first, duplicate=True)
    await matcher.lock([h for _, h in acted])
    row_of = dict(rows)
    read = matcher.suppressions
    async with policy.prefetched(session, workspace.id, matcher.contacts.values(), covered=read.covered,
                                 read=read.entries):
        await _act(session, matcher, acted, row_of, outs)
    return [outs[i] for i in range(len(items))]


_EARLIER = select(Event).where(Event.workspace_id == bindparam("workspace_id"),
                               Event.idempotency_key.in_(bindparam("keys", expanding=True)))
"""Built once: a statement built per request leaves reference cycles among its parameters, garbage that only
the collector's passes free, each a pause of the process (:mod:`herald.gcpolicy`)."""


def moved(outs: list[dict[str, Any]]) -> bool:
    """Whether any new event moved a journey, which may have planned a message (then the dispatchers are woken:
    most events plan nothing, and waking every worker for each would cost a claim query per worker)."""
    return any(o["runs"] for o in outs if not o["duplicate"])


async def _act(session: AsyncSession, matcher: Matcher, acted: list[tuple[int, Happened]],
               row_of: dict[int, dict[str, Any]], outs: dict[int, dict[str, Any]]) -> None:
    """Move the journeys of each event, in order. What the events of one contact plan is flushed only before
    that contact's next event (which must see it): a batch's runs, messages and their events then go to the
    database together, a few multi-row statements instead of five single-row ones per event (each a round
    trip; on SQLite, a hop to its thread). Events of different contacts never read each other's journeys."""
    touched: set[str | None] = set()
    with session.no_autoflush:
        for i, happened in acted:
            if happened.contact_id in touched:
                await pending.flush(session)
                touched.clear()
            touched.add(happened.contact_id)
            matched, runs = await matcher.on_event(happened)
            outs[i] = to_out(row_of[i], triggers=matched, runs=runs)


@cache
def _pg_store(dialect: Dialect) -> str:
    """PostgreSQL: the rows travel as one JSON document (:mod:`herald.db.jsondoc`), so the statement stays one
    placeholder long. A multi-row VALUES of 1,000 events has 8,000 placeholders, which psycopg re-parses on
    every call (0.12 s per batch); eight arrays cost less, but psycopg dumps arrays element by element in
    Python (a quarter of a batch's CPU)."""
    return (f"{jsondoc.insert(EVENTS, COLUMNS, dialect)} "
            "ON CONFLICT (workspace_id, idempotency_key) DO NOTHING RETURNING id")


async def _store(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Insert the events; answer the ids stored. On PostgreSQL, an event whose idempotency key a concurrent
    request stored first is left out (``ON CONFLICT DO NOTHING``) instead of failing the request."""
    if not rows:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        # The times as text first: a batch's events share received_at (and often occurred_at), remembered by _iso.
        document = jsondoc.dumps([{**row, "occurred_at": _iso(row["occurred_at"]),
                                   "received_at": _iso(row["received_at"])} for row in rows])
        conn = await session.connection()
        found = await conn.exec_driver_sql(_pg_store(conn.dialect), (document,))
        return {row[0] for row in found}
    # SQLite: every transaction begins IMMEDIATE, so this one has held the database's only write lock since
    # before it looked the keys up; no other request can have stored one of them since. The rows go in as
    # they are, in one executemany (an ON CONFLICT … RETURNING insert cost a tenth of a batch's CPU).
    await insert_rows(await session.connection(), EVENTS, rows)
    return {row["id"] for row in rows}


def _occurred(item: EventIn, now: datetime, prefix: str) -> datetime:
    if item.occurred_at is None:
        return now
    when = pagination.aware(item.occurred_at, f"{prefix}occurred_at")
    assert when is not None
    if when > now + FUTURE_TOLERANCE:
        raise errors.Invalid(f"{prefix}occurred_at is in the future ({when.isoformat()}); send it when it happens.",
                             code="occurred_in_future", field=f"{prefix}occurred_at")
    return when


def _check(known: dict[str, Checker | None], items: list[EventIn], prefix: Callable[[int], str]) -> None:
    problems: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if item.type not in known:
            problems.append({"field": f"{prefix(i)}type", "code": "unknown_event_type",
                             "message": f"No event type {item.type!r}; create it under /v1/event-types."})
        elif (found := known[item.type]) is not None:
            problems += found.problems(item.payload, f"{prefix(i)}payload")
        ref = item.contact
        if not (ref.id or any(getattr(ref, k) for k in KEYS)):
            problems.append({"field": f"{prefix(i)}contact", "code": "contact_required",
                             "message": "Name the contact by id, external_id, email or phone."})
    if problems:
        first = problems[0]
        raise errors.Invalid(f"{first['field']}: {first['message']}", code=first["code"], errors=problems)


def _same(first: Event | dict[str, Any], item: EventIn, contact_id: str | None, field: str) -> None:
    get = first.get if isinstance(first, dict) else lambda k: getattr(first, k)
    if get("type") != item.type or get("payload") != item.payload or (
            contact_id is not None and get("contact_id") != contact_id):
        raise errors.Conflict(f"Idempotency key {item.idempotency_key!r} was used for another event "
                              f"({get('id')}); use a new key for a new event.", code="idempotency_conflict",
                              field=field)


async def _contacts(session: AsyncSession, workspace: Workspace, items: list[EventIn],
                    prefixes: list[str]) -> dict[int, str]:
    """The contact of each item (by its index among ``items``), creating the ones named by external id,
    email or phone that do not exist yet."""
    out: dict[int, str] = {}
    by_id = {i: it.contact.id for i, it in enumerate(items) if it.contact.id}
    if by_id:
        found = set((await session.scalars(select(Contact.id).where(
            Contact.workspace_id == workspace.id, Contact.id.in_(set(by_id.values()))))).all())
        missing = [{"field": f"{prefixes[i]}contact.id", "code": "contact_not_found",
                    "message": f"No contact {cid!r} in this workspace."}
                   for i, cid in by_id.items() if cid not in found]
        if missing:
            raise errors.Invalid(f"{missing[0]['field']}: {missing[0]['message']}", code="contact_not_found",
                                 errors=missing)
        out.update(by_id)
    groups: dict[str, list[tuple[int, bulk.Item]]] = {}
    problems: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if i in out:
            continue
        ref = {name: value for name in _REF_FIELDS if (value := getattr(item.contact, name)) is not None}
        try:
            cleaned = fields.clean(ref, workspace.default_region)
        except errors.Invalid as exc:
            problems += [{**p, "field": f"{prefixes[i]}contact.{p['field']}"} for p in exc.errors or []]
            continue
        key = next(k for k in KEYS if cleaned.values.get(k))
        groups.setdefault(key, []).append((i, bulk.Item(cleaned)))
    if problems:
        raise errors.Invalid(f"{problems[0]['field']}: {problems[0]['message']}", code=problems[0]["code"],
                             errors=problems)
    for key, members in groups.items():
        named = [(index, m.cleaned.values[key]) for index, m in members if bulk.bare(m, key)]
        if named:  # contacts named by their key alone: known ones need no upsert, only their id
            known = await bulk.known_ids(session, workspace.id, key, {value for _, value in named})
            out.update({index: known[value] for index, value in named if value in known})
            members = [m for m in members if m[0] not in out]
        if members:
            results = await bulk.upsert_settled(session, workspace.id, [m[1] for m in members], key=key,
                                                source="event")
            out.update({index: r.contact_id for (index, _), r in zip(members, results, strict=True)})
    return out
