"""The first statement of every group commit and event batch on PostgreSQL: the caller's workspace and the
events already stored under the items' idempotency keys, read on the transaction's own psycopg connection in
pipeline mode, so the ``BEGIN`` that psycopg sends first goes in the same flight instead of a round trip of its
own. Through SQLAlchemy the two cost two round trips and the ORM's work of a query (~1.5 ms of CPU on a slowed
VM, a third of a lone event's transaction); here the workspace comes back as a plain row, made into the
session's :class:`Workspace` without a query, and the earlier events as plain dicts. The keys are joined as
rows, one probe of the unique index each, whatever the planner knows of the table (``key = ANY(:keys)`` let a
generic plan walk all of the workspace's events while their statistics were stale)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from herald.auth.models import Workspace
from herald.auth.tokens import Principal
from herald.db import raw
from herald.db.rows import loaded
from herald.deps import workspace_gone, workspace_of
from herald.events.models import Event
from herald.events.schemas import EventIn

Earlier = dict[str, Event | dict[str, Any]]
"""The events already stored under some idempotency keys, by key."""

COLUMNS = ("id", "workspace_id", "type", "contact_id", "payload", "occurred_at", "received_at", "idempotency_key")
"""An event's columns, as :mod:`herald.events.ingest` writes them and this reads them."""
_WORKSPACE = tuple(column.name for column in Workspace.__table__.columns)  # the primary key first
_PAIRS = ", ".join(f"'{name}', e.{name}" for name in COLUMNS)
_SQL = (f"SELECT {', '.join(f'w.{name}' for name in _WORKSPACE)}, "  # noqa: S608 (names from the models)
        f"(SELECT json_agg(json_build_object({_PAIRS})) "
        "FROM unnest(%(keys)s::varchar[]) AS k(key) JOIN events e ON e.idempotency_key = k.key "
        "WHERE e.workspace_id = w.id) "
        "FROM workspaces w WHERE w.id = %(workspace_id)s")


async def opening(session: AsyncSession, principal: Principal,
                  items: list[EventIn]) -> tuple[Workspace, Earlier | None]:
    """The caller's workspace and, on PostgreSQL, the earlier events under the items' keys (``None`` on SQLite:
    :func:`herald.events.ingest.ingest` looks them up itself, a hop to SQLite's thread and no round trip)."""
    conn = await session.connection()
    if conn.dialect.name != "postgresql":
        return await workspace_of(session, principal), None
    keys = list({i.idempotency_key for i in items if i.idempotency_key})
    psycopg, params = await raw.driver(conn), {"workspace_id": principal.workspace_id, "keys": keys}
    with raw.as_sqlalchemy(conn, _SQL, params):
        async with psycopg.pipeline():
            found = await (await psycopg.execute(_SQL, params)).fetchone()
    if found is None:
        raise workspace_gone()
    workspace = loaded(session, Workspace, _WORKSPACE, found[:-1])
    return workspace, {e["idempotency_key"]: {**e, "occurred_at": datetime.fromisoformat(e["occurred_at"]),
                                              "received_at": datetime.fromisoformat(e["received_at"])}
                       for e in found[-1] or ()}
