"""Planner statistics for tables that grew faster than autovacuum looks (PostgreSQL).

Every lookup Herald makes is scoped to a workspace. Until a table has been analyzed, PostgreSQL takes
``workspace_id = :id`` to keep half a percent of its rows, so it answers "this workspace's contact with
external id X" by reading every contact of the workspace off a ``(workspace_id, …)`` index and filtering
them, and "which of these idempotency keys exist" by reading every event of the workspace. On a new database
that is the first minute or so of its life (autovacuum visits each database once a minute, and analyzes a
table once 50 rows and a tenth of its size have changed): an import of a million contacts, or a benchmark,
ran all of it on those plans, each lookup slower as the table grew (4 ms a triggered event at 9,000 contacts).
Once analyzed, the one-workspace column is known to select the whole table, and every lookup is an index
probe.

:func:`keep` closes that gap in every process that writes in bulk (``herald serve``, ``herald worker``,
``herald import``): every :data:`INTERVAL` it analyzes the tables never analyzed that hold :data:`MIN_ROWS`
rows and, so that a table analyzed small that then takes a bulk load is not left on plans for its old size,
any that has twice the rows it had at its last analysis (a busy queue table that churns without growing is
left to autovacuum). That is a few analyses over a table's life, each reading a sample of 30,000 rows at
most (tens of milliseconds); autovacuum keeps the statistics current between them. ``ANALYZE`` invalidates
the plans PostgreSQL cached for the table, the prepared statements of every pooled connection included. It is
a loop of its own, not a job: a long job (an import, a campaign's fan-out) holds the job runner for its whole
run, which is when the statistics go stale fastest.

SQLite plans without statistics by preferring the index that matches the most equality terms, which is right
for these lookups: there is nothing to do there."""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger(__name__)

INTERVAL = 10.0
MIN_ROWS = 1000

_GROWN = text(
    "SELECT s.relname, s.n_live_tup, c.reltuples FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid "
    "WHERE s.schemaname = current_schema() AND s.n_live_tup >= :min_rows "
    "AND (COALESCE(s.last_analyze, s.last_autoanalyze) IS NULL OR s.n_live_tup >= 2 * c.reltuples) "
    "ORDER BY s.relname")


async def grown(conn: AsyncConnection) -> list[tuple[str, int, int]]:
    """The tables due an analysis: their live rows, and the rows they had at their last (-1: none)."""
    rows = await conn.execute(_GROWN, {"min_rows": MIN_ROWS})
    return [(name, int(live), int(before)) for name, live, before in rows]


async def analyze_grown(engine: AsyncEngine) -> list[str]:
    """Analyze what :func:`grown` names, each in a transaction of its own; answer their names.
    ``SKIP_LOCKED`` leaves a table that autovacuum or another process is analyzing to it."""
    async with engine.connect() as conn:
        due = await grown(conn)
    for name, live, before in due:
        started = time.perf_counter()
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f"ANALYZE (SKIP_LOCKED) {conn.dialect.identifier_preparer.quote(name)}")
        log.info("planner_stats.analyzed", table=name, rows=live, rows_at_last_analysis=before,
                 ms=round((time.perf_counter() - started) * 1000, 1))
    return [name for name, _, _ in due]


async def keep(engine: AsyncEngine, stop: asyncio.Event, interval: float = INTERVAL) -> None:
    """Run :func:`analyze_grown` every ``interval`` seconds until ``stop`` is set (PostgreSQL only)."""
    if engine.dialect.name != "postgresql":
        return
    while not stop.is_set():
        try:
            await analyze_grown(engine)
        except Exception:  # the server restarting, a lost connection: try again at the next round
            log.warning("planner_stats.failed", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
