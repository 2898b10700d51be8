"""Alembic migrations produce exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Select, inspect

from herald.commqueue import service as commqueue
from herald.db.models import Base
from herald.db.session import make_engine
from herald.messages.models import MESSAGES
from herald.pipeline.dispatch import CLAIM_ORDER
from herald.queue import claim as claims

# Alembic cannot compare expression indexes (DESC); these are checked by name below instead.
EXPRESSION_INDEXES = {"ix_messages_claim", "ix_messages_queue_pending"}


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


def _plan(conn: Connection, query: Select[Any]) -> str:
    """How the database runs a query, as text."""
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    if conn.dialect.name == "sqlite":
        return " / ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    # Ask whether the index can serve the claim in its order, whatever the table holds and whatever statistics
    # earlier tests left (TRUNCATE keeps them): a bitmap scan or a sort is then the last resort, and a Sort
    # node is still planned if the index's order is not the claim's.
    for method in ("seqscan", "bitmapscan", "sort"):
        conn.exec_driver_sql(f"SET LOCAL enable_{method} = off")
    return " / ".join(str(row[0]) for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))


@pytest.mark.parametrize(("index", "query"), [
    ("ix_messages_claim", claims.ready(MESSAGES, now=datetime.now(UTC), limit=200, order_by=CLAIM_ORDER)),
    ("ix_messages_queue_pending", commqueue.pending("prv_x", datetime.now(UTC), 100)),
], ids=["claim", "queue_pull"])
async def test_queue_queries_walk_their_index_in_order(db_url: str, index: str, query: Select[Any]) -> None:
    """The dispatcher's claim and a third-party system's pull take the first rows of their index without
    sorting: an index whose order differs from the query's (SQLite's batch migrations once dropped the claim
    index's DESC) sorts every waiting message on each claim."""
    engine = make_engine(db_url, pool_size=1)
    async with engine.begin() as conn:
        plan = await conn.run_sync(_plan, query)
        await conn.rollback()
    await engine.dispose()
    assert index in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    assert "Sort" not in plan, plan
