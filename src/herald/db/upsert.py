"""``INSERT … ON CONFLICT DO NOTHING`` on either database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession


async def insert_ignore(db: AsyncSession | AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert the rows that do not collide with a unique constraint; answer how many were inserted."""
    if not rows:
        return 0
    bind = db.get_bind() if isinstance(db, AsyncSession) else db
    dialect = postgresql if bind.dialect.name == "postgresql" else sqlite
    inserted = 0
    for row in rows:  # executemany does not report per-row counts on every driver; rows here are modest
        result = await db.execute(dialect.insert(table).values(**row).on_conflict_do_nothing())
        inserted += max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
    return inserted
