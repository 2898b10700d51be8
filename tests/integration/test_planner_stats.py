"""Lookups stay index probes right after a bulk load: every writing process analyzes the tables that grew
before autovacuum looked (PostgreSQL), and again one that doubled since."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from herald.db import planner_stats
from herald.db.session import make_engine

_LOOKUP = ("SELECT contacts.id FROM contacts JOIN unnest(CAST($1 AS VARCHAR[])) AS wanted(value) "
           "ON contacts.external_id = wanted.value WHERE contacts.workspace_id = $2 AND contacts.erased_at IS NULL")
"""The statement :func:`herald.contacts.bulk.known_ids` runs for an event naming its contact by external id."""


@pytest.fixture
async def engine(fresh_pg_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(fresh_pg_url, pool_size=2)
    yield engine
    await engine.dispose()


async def _load(engine: AsyncEngine, first: int, count: int) -> None:
    """Contacts as an import writes them; then wait for the server's statistics to count them (a backend
    reports its counts when idle, at most once a second)."""
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO contacts (id, workspace_id, external_id, phone, attributes, consent, created_at, "
            "updated_at) SELECT 'ct_' || lpad(i::text, 9, '0'), 'ws_default', 'a' || i, "
            "'+1415' || lpad(i::text, 7, '0'), '{}', '{}', now(), now() "
            "FROM generate_series(CAST(:a AS INTEGER), CAST(:b AS INTEGER)) AS i"),
            {"a": first, "b": first + count - 1})
        await conn.execute(text("SELECT pg_stat_force_next_flush()"))
    for _ in range(100):
        async with engine.connect() as conn:
            live = await conn.scalar(text("SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'contacts'"))
        if live == first + count - 1:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the server counts {live} contacts, not {first + count - 1}")


async def _state(engine: AsyncEngine) -> tuple[datetime | None, float]:
    """When contacts was last analyzed, and the rows it had then. A transaction of its own: the server answers
    the statistics views from a snapshot taken at their first read in a transaction."""
    async with engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT s.last_analyze, c.reltuples FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
            "WHERE s.relname = 'contacts'"))).one()
    return row[0], float(row[1])


async def _plan(conn: AsyncConnection) -> str:
    """The plan of the lookup as a prepared statement runs it once the server settles on a generic plan
    (psycopg prepares a statement at its fifth run)."""
    await conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    await conn.exec_driver_sql(f"PREPARE lookup(VARCHAR[], VARCHAR) AS {_LOOKUP}")
    plan = "\n".join(row[0] for row in await conn.exec_driver_sql("EXPLAIN EXECUTE lookup('{a17}', 'ws_default')"))
    await conn.exec_driver_sql("DEALLOCATE lookup")
    return plan


@pytest.mark.postgres
async def test_a_table_loaded_before_autovacuum_looks_is_analyzed_and_its_lookups_probe(engine) -> None:  # type: ignore[no-untyped-def]
    await _load(engine, 1, 20_000)
    async with engine.begin() as conn:
        before = await _plan(conn)
    stop = asyncio.Event()
    keeper = asyncio.create_task(planner_stats.keep(engine, stop, interval=0.2))
    try:
        for _ in range(100):
            if (await _state(engine))[0] is not None:
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await keeper
    analyzed_at, rows = await _state(engine)
    async with engine.begin() as conn:
        after = await _plan(conn)
    # Unanalyzed, the workspace looks selective: its every contact is read and compared with the key.
    assert "Join Filter" in before or "Hash Join" in before, before
    assert analyzed_at is not None
    assert rows == 20_000
    # One probe of the unique index on both columns, whatever the workspace holds.
    assert "Index Cond: (((workspace_id)::text = ($2)::text) AND ((external_id)::text = " in after, after
    assert "uq_contacts_workspace_id_external_id" in after, after
    assert "Join Filter" not in after, after
    assert "Hash" not in after, after

    # Nothing grew: nothing is analyzed again, however often it is asked.
    assert await planner_stats.analyze_grown(engine) == []
    assert (await _state(engine))[0] == analyzed_at


@pytest.mark.postgres
async def test_a_table_that_doubled_since_its_analysis_is_analyzed_again(engine) -> None:  # type: ignore[no-untyped-def]
    await _load(engine, 1, 2_000)
    assert "contacts" in await planner_stats.analyze_grown(engine)
    first, rows = await _state(engine)
    assert first is not None
    assert rows == 2_000

    await _load(engine, 2_001, 1_500)  # grown by three quarters: autovacuum's business
    assert "contacts" not in await planner_stats.analyze_grown(engine)
    assert (await _state(engine))[0] == first

    await _load(engine, 3_501, 1_000)  # 4,500 rows: more than twice the 2,000 it was analyzed at
    assert "contacts" in await planner_stats.analyze_grown(engine)
    again, rows = await _state(engine)
    assert again is not None
    assert again > first
    assert rows == 4_500


@pytest.mark.postgres
async def test_small_tables_are_left_alone(engine) -> None:  # type: ignore[no-untyped-def]
    await _load(engine, 1, planner_stats.MIN_ROWS - 1)
    assert await planner_stats.analyze_grown(engine) == []
    assert (await _state(engine))[0] is None


async def test_nothing_runs_on_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", pool_size=1)
    await asyncio.wait_for(planner_stats.keep(engine, asyncio.Event()), 5)  # returns at once: no loop
    await engine.dispose()
