"""SQLite through aiosqlite with one thread hop per statement instead of four.

aiosqlite runs each SQLite call in its connection's own thread and hands the result back to the event loop.
SQLAlchemy's adapter makes a separate call for each step of a statement: open a cursor, execute, fetch the
rows, close the cursor. Each hop costs a queue put, a thread wake-up, a write to the loop's self-pipe and a
loop wake-up: about four times a SELECT's own SQLite work on the small statements an API request makes (an
event was ~35 hops). Here the cursor's ``execute`` and ``executemany`` do all four steps in one function run
in that thread, and keep the description, row count, last row id and rows for SQLAlchemy to read. The
``BEGIN`` that opens each transaction travels with its first statement.

Everything else is SQLAlchemy's aiosqlite dialect unchanged: transactions, the per-connection execute mutex,
server-side cursors (streamed results keep aiosqlite's cursor), error translation. The engine gets this by
``create_async_engine(..., module=fused_dbapi())``; no global state is patched.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Result = tuple[Any, list[Any] | None, int, int | None]


_BEGINS = frozenset({"BEGIN", "BEGIN IMMEDIATE"})


def _run(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool, begin: str | None) -> _Result:
    """In aiosqlite's thread: the transaction's deferred BEGIN if any, then the whole statement, rows included
    (SQLite wants RETURNING rows read at once)."""
    if begin is not None:
        conn.execute(begin)
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class FusedCursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor whose statement runs in one hop; the sqlite3 cursor is closed before it returns."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:  # no hop to open a cursor: _run opens its own
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount, self._lastrowid = -1, None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        await self._run(operation, seq_of_parameters, many=True)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        adapt: _Connection = self._adapt_connection  # type: ignore[assignment]
        if operation in _BEGINS and not parameters and not many:
            adapt.pending_begin = operation  # sent with the transaction's first statement: one hop less
            return
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with adapt._execute_mutex:
            # After a failure the BEGIN is gone either way: a rollback then goes to SQLite, harmless if the
            # BEGIN itself was what failed (a rollback with no transaction does nothing).
            begin, adapt.pending_begin = adapt.pending_begin, None
            adapt.open = adapt.open or begin is not None
            description, rows, rowcount, lastrowid = await connection._execute(  # type: ignore[no-untyped-call]
                _run, connection._conn, operation, parameters, many, begin)
        self._description, self._rowcount, self._lastrowid = description, rowcount, lastrowid
        self._rows = collections.deque(rows) if rows is not None else collections.deque()

    async def _async_soft_close(self) -> None:
        return  # nothing is open

    def close(self) -> None:
        self._rows.clear()


class _Connection(AsyncAdapt_aiosqlite_connection):
    """Holds a transaction's BEGIN until its first statement, and knows whether it sent one since the last
    commit or rollback: ending a transaction that never reached SQLite (or the pool's rollback of a connection
    already committed) needs no round trip. Transactions only ever start with that BEGIN here (the connection
    is in autocommit mode, ``isolation_level=None``, and Herald's begin hook issues the BEGIN)."""

    __slots__ = ("open", "pending_begin")
    _cursor_cls = FusedCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.pending_begin: str | None = None
        self.open = False

    def commit(self) -> None:
        self.pending_begin = None
        if self.open:
            super().commit()  # if it fails, the transaction is still open: the rollback that follows is sent
            self.open = False

    def rollback(self) -> None:
        self.pending_begin = None
        if self.open:
            super().rollback()
            self.open = False


class _Dbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        """SQLAlchemy's ``connect``, answering our connection class."""
        creator_fn = kw.pop("async_creator_fn", None)
        connection = creator_fn(*arg, **kw) if creator_fn else self.aiosqlite.connect(*arg, **kw)
        if not creator_fn:
            connection._thread.daemon = True
        return _Connection(self, await_(connection))


def fused_dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The DBAPI module to give ``create_async_engine`` for a ``sqlite+aiosqlite`` URL."""
    return _Dbapi(aiosqlite, sqlite3)
