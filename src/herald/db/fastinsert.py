"""Bulk INSERT straight to the driver, for bulk paths (imports, list adds) where SQLAlchemy's per-value bind
processing costs more than the database's own work. Values are converted here exactly as the column types
would: aware datetimes to SQLite's stored text (UTC), dates to ISO, dicts and lists to JSON.

SQLite gets one ``executemany`` (its rows are bound in C; the inserts run in aiosqlite's thread). PostgreSQL
gets ``COPY … FROM STDIN``: measured on 2,000-row batches of contacts it takes ~3 µs of client CPU per row
against ~8 µs for psycopg's pipelined ``executemany``, and about half the server's time (one statement, not
one executor run per row). Its errors come out as SQLAlchemy's (``IntegrityError`` …), as from ``execute``."""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.db import raw
from herald.db.base import UTCDateTime

Convert = Callable[[Any], Any] | None


def _encoder() -> Callable[[Any], str]:
    """``json.dumps`` with its default settings (the same text), made once: ``dumps`` builds its C encoder
    for every value, which costs more than encoding a list row's few fields (0.7 against 1.5 µs)."""
    plain = json.JSONEncoder(check_circular=False)
    make = json.encoder.c_make_encoder  # type: ignore[attr-defined]
    if make is None:  # no C accelerator: the pure-Python encoder
        return plain.encode
    chunks = make(None, plain.default, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)

    def encode(value: Any) -> str:
        if isinstance(value, str):  # the C encoder wants a container; dumps quotes a string itself
            return plain.encode(value)
        return "".join(chunks(value, 0))

    return encode


_encode = _encoder()


@lru_cache(maxsize=256)
def _sqlite_time(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME storage format, in UTC, as UTCDateTime writes it.
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return "{}" if value == {} else _encode(value)


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _bool(value: Any) -> int | None:
    return None if value is None else int(value)


def _converter(column_type: Any, sqlite: bool) -> Convert:
    """How to pass a value of this type (``None``: as it is)."""
    if isinstance(column_type, JSON):
        return _json
    if sqlite and isinstance(column_type, UTCDateTime):
        return _sqlite_time
    if sqlite and isinstance(column_type, Date):
        return _iso
    if sqlite and isinstance(column_type, Boolean):
        return _bool
    return None


def _params(table: Table, names: list[str], rows: Sequence[dict[str, Any]], sqlite: bool) -> list[tuple[Any, ...]]:
    """One tuple per row, converted a column at a time (C-level ``map`` over the rows, a Python call only for
    the values that need converting)."""
    converts = [_converter(table.c[name].type, sqlite) for name in names]
    if all(c is None for c in converts):
        return list(map(itemgetter(*names), rows)) if len(names) > 1 else [(row[names[0]],) for row in rows]
    columns = [list(map(itemgetter(name), rows)) if convert is None else list(map(convert, map(itemgetter(name), rows)))
               for name, convert in zip(names, converts, strict=True)]
    return list(zip(*columns, strict=True))


async def insert_rows(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT ``rows`` (all with the same keys, every value already valid for its column)."""
    if not rows:
        return
    names = list(rows[0])
    sqlite = conn.dialect.name == "sqlite"
    params = _params(table, names, rows, sqlite)
    if not sqlite:
        await _copy(conn, table, names, params)
        return
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"  # noqa: S608
    await conn.exec_driver_sql(sql, params)


async def _copy(conn: AsyncConnection, table: Table, names: list[str], params: list[tuple[Any, ...]]) -> None:
    """``COPY`` on the connection's own psycopg connection, inside the transaction SQLAlchemy began."""
    sql = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    with raw.as_sqlalchemy(conn, sql, None):
        async with (await raw.driver(conn)).cursor() as cursor, cursor.copy(sql) as copy:
            for row in params:
                await copy.write_row(row)
