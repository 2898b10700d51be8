"""Alembic migrations produce exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from herald.db.models import Base
from herald.db.session import make_engine

# Alembic cannot compare expression indexes (DESC); this one is checked by name below instead.
EXPRESSION_INDEXES = {"ix_messages_claim"}


def _include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


def _diff(conn: Connection) -> list[Any]:
    ctx = MigrationContext.configure(
        conn, opts={"compare_type": True, "render_as_batch": True, "include_object": _include})
    return list(compare_metadata(ctx, Base.metadata))


def _indexes(conn: Connection) -> set[str]:
    return {i["name"] for i in inspect(conn).get_indexes("messages") if i["name"]}


async def test_migrated_schema_equals_models(db_url: str) -> None:
    engine = make_engine(db_url, pool_size=1)
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        indexes = await conn.run_sync(_indexes)
    await engine.dispose()
    assert diff == [], diff
    assert set(Base.metadata.tables) <= tables
    assert indexes >= EXPRESSION_INDEXES
