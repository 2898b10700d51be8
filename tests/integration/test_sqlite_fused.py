"""The SQLite driver that sends each statement in one hop and a transaction's BEGIN with its first statement:
results, row counts, errors, savepoints, rollbacks and the write lock between connections behave as before."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite.core
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.db.session import SQLITE_CHECKPOINT_PAGES, make_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncEngine:
    made = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'fused.db'}", pool_size=2)
    async with made.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield made
    await made.dispose()


class Hops:
    """Counts the round trips to aiosqlite's thread."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = aiosqlite.core.Connection._execute

        async def counted(connection: aiosqlite.core.Connection, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.count += 1
            return await real(connection, fn, *args, **kwargs)

        monkeypatch.setattr(aiosqlite.core.Connection, "_execute", counted)


async def test_results_counts_and_returning(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO t (v) VALUES ('a'), ('b'), ('c') RETURNING id, v"))
        assert [tuple(r) for r in inserted] == [(1, "a"), (2, "b"), (3, "c")]
        many = await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "d"}, {"v": "e"}])
        assert many.rowcount == 2
        updated = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id > 2"))
        assert updated.rowcount == 3
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 5
        assert (await conn.execute(text("SELECT v FROM t WHERE id = 99"))).first() is None


async def test_a_failed_statement_rolls_back_and_the_connection_stays_usable(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES ('x')"))
    with pytest.raises(IntegrityError):
        await _insert_twice(engine)
    async with engine.begin() as conn:  # the same pooled connection begins afresh; 'y' was rolled back
        assert [r[0] for r in await conn.execute(text("SELECT v FROM t ORDER BY id"))] == ["x"]
        async with conn.begin_nested() as inner:
            await conn.execute(text("INSERT INTO t (v) VALUES ('z')"))
            await inner.rollback()
        await conn.execute(text("INSERT INTO t (v) VALUES ('w')"))
    async with engine.connect() as conn:
        assert [r[0] for r in await conn.execute(text("SELECT v FROM t ORDER BY id"))] == ["x", "w"]


async def _insert_twice(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES ('y')"))
        await conn.execute(text("INSERT INTO t (v) VALUES ('x')"))  # unique: the transaction fails


async def test_a_transaction_costs_its_statements_plus_commit(engine: AsyncEngine,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    hops = Hops(monkeypatch)
    async with engine.begin() as conn:  # BEGIN IMMEDIATE travels with the SELECT
        await conn.execute(text("SELECT 1"))
        await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
    assert hops.count == 3  # SELECT, INSERT, COMMIT: no separate BEGIN, no rollback when it goes to the pool
    hops.count = 0
    async with engine.begin():  # a transaction that never ran a statement never reaches SQLite
        pass
    assert hops.count == 0


async def test_begin_immediate_still_takes_the_write_lock_first(engine: AsyncEngine) -> None:
    """A second connection's transaction waits (busy timeout) until the first one commits, then sees its row."""
    order: list[str] = []
    holding = asyncio.Event()

    async def first() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('first')"))
            holding.set()
            await asyncio.sleep(0.3)
            order.append("first commits")

    async def second() -> None:
        await holding.wait()
        async with engine.begin() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM t"))).scalar()
            order.append(f"second sees {count}")

    await asyncio.gather(first(), second())
    assert order == ["first commits", "second sees 1"]


async def test_every_connection_is_set_up_for_a_busy_writer(engine: AsyncEngine) -> None:
    """WAL with NORMAL sync, enforced foreign keys, a 30 s wait for the write lock and checkpoints ten times
    rarer than SQLite's default, on each connection the pool makes (not only the first)."""
    async with engine.connect() as first, engine.connect() as second:
        for conn in (first, second):
            got = [(await conn.exec_driver_sql(f"PRAGMA {name}")).scalar() for name in (
                "journal_mode", "synchronous", "foreign_keys", "busy_timeout", "wal_autocheckpoint")]
            assert got == ["wal", 1, 1, 30000, SQLITE_CHECKPOINT_PAGES]
            await conn.rollback()
