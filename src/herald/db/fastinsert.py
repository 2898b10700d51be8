"""Multi-row INSERT straight to the driver, for bulk paths (imports) where SQLAlchemy's per-value bind
processing costs more than the database's own work. Values are converted here exactly as the column types
would: aware datetimes to SQLite's stored text (UTC), dates to ISO, dicts and lists to JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.db.base import UTCDateTime

Convert = Callable[[Any], Any] | None


@lru_cache(maxsize=256)
def _sqlite_time(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME storage format, in UTC, as UTCDateTime writes it.
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return "{}" if value == {} else json.dumps(value)


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _converter(column_type: Any, sqlite: bool) -> tuple[Convert, str]:
    """How to pass a value of this type, and its placeholder."""
    mark = "?" if sqlite else "%s"
    if isinstance(column_type, JSON):
        return _json, mark if sqlite else "%s::json"
    if sqlite and isinstance(column_type, UTCDateTime):
        return _sqlite_time, mark
    if sqlite and isinstance(column_type, Date):
        return _iso, mark
    if sqlite and isinstance(column_type, Boolean):
        return lambda v: None if v is None else int(v), mark
    return None, mark


async def insert_rows(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT ``rows`` (all with the same keys, every value already valid for its column)."""
    if not rows:
        return
    sqlite = conn.dialect.name == "sqlite"
    names = list(rows[0])
    plan = [_converter(table.c[name].type, sqlite) for name in names]
    marks = ", ".join(mark for _, mark in plan)
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})"  # noqa: S608 - names from our Table
    plain = [name for name, (convert, _) in zip(names, plan, strict=True) if convert is None]
    if len(plain) == len(names):
        params = [tuple(row.values()) for row in rows]
    else:
        pairs = list(zip(names, [convert for convert, _ in plan], strict=True))
        params = [tuple([row[n] if c is None else c(row[n]) for n, c in pairs]) for row in rows]
    await conn.exec_driver_sql(sql, params)
