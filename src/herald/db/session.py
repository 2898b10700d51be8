"""Engines and units of work. Services never commit; the unit of work (request or job) does, once.

SQLite gets WAL, a busy timeout, foreign keys, and ``BEGIN IMMEDIATE`` for every transaction so that two
processes never deadlock upgrading a read lock to a write lock."""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from herald.db.sqlite_fused import fused_dbapi


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, module=fused_dbapi())
        _configure_sqlite(engine)
        return engine
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size * 2)
    _ping_when_idle(engine)
    return engine


PING_IDLE_SECONDS = 2.0
"""A pooled PostgreSQL connection idle longer than this is pinged before it is handed out."""


def _ping_when_idle(engine: AsyncEngine) -> None:
    """SQLAlchemy's ``pool_pre_ping`` checks every connection at every checkout: a round trip per transaction
    (a third of a group commit's CPU went to round trips). A connection returned to the pool moments ago is
    as good as the statement it last ran; the ones that went stale (the server restarted, a proxy or firewall
    dropped them) sat there idle. Those are pinged, and one that fails is replaced by a fresh connection
    (``DisconnectionError`` makes the pool retry). A connection that dies in the moments between is refused
    at its first statement, and that disconnect invalidates the rest of the pool too."""
    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since <= PING_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # whatever the driver raises for a dead connection
            raise DisconnectionError("a pooled connection failed its ping") from exc


_IDLE_SINCE = "herald_idle_since"


SQLITE_CHECKPOINT_PAGES = 10_000
"""WAL pages between checkpoints (SQLite's default is 1,000, 4 MB). Hot pages (an index's right-hand edge, a
table's last page) are written to the WAL again by every commit, and a checkpoint copies each page back to the
database once: checkpointing a tenth as often took ~8 % off the CPU of an event batch and of an import's
writes, for a WAL of up to ~40 MB."""


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


READ_ONLY = "herald_read_only"


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads only (counts, exports): on SQLite its transactions begin DEFERRED, so a long
    read never holds the write lock that claims and flushes need. Never write through it."""
    async with engine.connect() as conn:
        yield await conn.execution_options(**{READ_ONLY: True})


_WRITE_LOCKS: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()


def write_lock(engine: AsyncEngine) -> AbstractAsyncContextManager[Any]:
    """One lock per SQLite engine for this process's transactions. SQLite has one writer at a time and every
    transaction here begins IMMEDIATE; without this, a process's own requests, claims and jobs would wait in
    SQLite's busy handler, which sleeps in steps of up to 100 ms (seconds of p99 under load). PostgreSQL needs
    no lock: a no-op."""
    if not is_sqlite(engine):
        return contextlib.nullcontext()
    lock = _WRITE_LOCKS.get(engine.sync_engine)
    if lock is None:
        lock = _WRITE_LOCKS[engine.sync_engine] = asyncio.Lock()
    return lock


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: commits when the block ends normally, rolls back when it raises."""
    async with sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
