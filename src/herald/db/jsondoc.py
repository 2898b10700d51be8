"""Rows as one JSON document for PostgreSQL's ``json_to_recordset``: a statement that writes many rows from
one parameter. psycopg's ``executemany`` sends one prepared execution per row (its Python side costs more
than the row), and a multi-row VALUES list is re-parsed for every new row count."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Table
from sqlalchemy.engine import Dialect


def dumps(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a JSON array of objects; datetimes as ISO 8601 (``timestamptz`` reads their offset).

    orjson writes them ten times faster than the standard library, whose encoder calls back into Python for
    every datetime (a group commit's rows each carry three or four). What orjson refuses and JSON allows (an
    integer past 64 bits in a payload) goes through the standard library instead."""
    try:
        return orjson.dumps(rows, default=_iso, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(rows, default=_iso)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def insert(table: Table, columns: Sequence[str], dialect: Dialect) -> str:
    """``INSERT INTO table (columns) SELECT columns FROM`` the document's rows (:func:`recordset`); the
    caller adds what follows (``ON CONFLICT``, ``RETURNING``)."""
    quoted = ", ".join(f'"{c}"' for c in columns)
    return f"INSERT INTO {table.name} ({quoted}) SELECT {quoted} FROM {recordset(table, columns, dialect)}"  # noqa: S608


def recordset(table: Table, columns: Sequence[str], dialect: Dialect) -> str:
    """``json_to_recordset(%s::json) AS t(...)`` typed as ``table``'s ``columns``."""
    typed = ", ".join(f'"{c}" {table.c[c].type.compile(dialect=dialect)}' for c in columns)
    return f"json_to_recordset(%s::json) AS t({typed})"
