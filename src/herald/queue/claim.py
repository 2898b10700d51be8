"""Claim, lease and recover rows of a queue table (``messages`` or ``jobs``).

A claim moves due rows to the running state in one statement, stamps a fresh lease token and a lease
deadline, and returns them. Whoever holds the token may record the outcome; a worker that died loses the
lease at the deadline and :func:`recover` puts the row back, so another worker retries it. Recording an
outcome is fenced on the token: a worker whose lease was taken over changes nothing.

PostgreSQL: ``FOR UPDATE SKIP LOCKED`` in a CTE, so concurrent workers take disjoint rows without waiting.
SQLite: the same UPDATE with ``IN (SELECT … LIMIT)``; ``BEGIN IMMEDIATE`` already serialises writers.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, Table, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

# Literal, not bound: a partial index is only usable when the query repeats its condition verbatim.
READY = "state IN ('queued', 'retrying')"


def new_token() -> str:
    return secrets.token_hex(16)


def ready(
    table: Table,
    *,
    now: datetime,
    limit: int,
    order_by: Sequence[ColumnElement[Any]] = (),
    where: ColumnElement[bool] | None = None,
) -> Select[tuple[Any]]:
    """The ids of the next ``limit`` due rows, in claim order (``order_by``, then ``due_at``).

    A large queue needs a partial index over :data:`READY` whose columns match this order exactly, DESC
    included, so that the database walks it and stops at the LIMIT; an index that matches only the first
    column makes SQLite sort every waiting row of the top priority on each claim."""
    c = table.c
    return (
        select(c.id)
        .where(text(READY), c.due_at <= now, *(() if where is None else (where,)))
        .order_by(*order_by, c.due_at)
        .limit(limit)
    )


async def claim(
    conn: AsyncConnection,
    table: Table,
    *,
    now: datetime,
    limit: int,
    lease_seconds: float,
    running_state: str,
    order_by: Sequence[ColumnElement[Any]] = (),
    returning: Sequence[ColumnElement[Any]] = (),
    where: ColumnElement[bool] | None = None,
) -> tuple[str, list[Row[Any]]]:
    """Lease up to ``limit`` due rows; answer the lease token and the rows (``returning`` columns).

    ``where`` narrows the rows (a runner that leaves some kinds of job to another). See :func:`ready` for
    the index a large queue needs."""
    c = table.c
    token = new_token()
    ready_ids = ready(table, now=now, limit=limit, order_by=order_by, where=where)
    values = {
        "state": running_state,
        "lease_token": token,
        "lease_until": now + timedelta(seconds=lease_seconds),
        "attempts": c.attempts + 1,
        "updated_at": now,
    }
    if conn.dialect.name == "postgresql":
        # The CTE is evaluated once; SKIP LOCKED makes concurrent claimers take disjoint rows.
        cte = ready_ids.with_for_update(skip_locked=True).cte("ready")
        stmt = update(table).where(c.id == cte.c.id)
    else:
        stmt = update(table).where(c.id.in_(ready_ids.scalar_subquery()))
    result = await conn.execute(stmt.values(values).returning(*(returning or (c.id,))))
    return token, list(result.all())


async def recover(
    conn: AsyncConnection,
    table: Table,
    *,
    now: datetime,
    running_state: str,
    back_to: str = "retrying",
    extra_values: dict[str, Any] | None = None,
) -> list[str]:
    """Put rows whose lease expired (their worker died or hung) back in the queue; answer their ids."""
    c = table.c
    stmt = (
        update(table)
        # Literal, so that a partial index over the running rows (``ix_messages_leased``) can serve it.
        .where(text(f"state = '{running_state}'"), c.lease_until < now)
        .values(state=back_to, due_at=now, lease_until=None, updated_at=now, **(extra_values or {}))
        .returning(c.id)
    )
    return [row[0] for row in await conn.execute(stmt)]
