"""Statements on a transaction's own psycopg connection, for the few hot paths where SQLAlchemy's work per
statement, or a round trip it cannot avoid, costs more than the statement (``COPY``, psycopg's pipeline mode):
inside the transaction SQLAlchemy began, and failing as SQLAlchemy would fail (an ``IntegrityError``, a
``DBAPIError`` the API answers as it answers any database error)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection


async def driver(conn: AsyncConnection) -> Any:
    """The psycopg ``AsyncConnection`` under ``conn``, in ``conn``'s transaction."""
    return (await conn.get_raw_connection()).driver_connection


@contextmanager
def as_sqlalchemy(conn: AsyncConnection, statement: str, params: Any) -> Iterator[None]:
    """Raise the driver's errors within as SQLAlchemy's own, naming ``statement``."""
    try:
        yield
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(statement, params, exc, conn.dialect.loaded_dbapi.Error,
                                  dialect=conn.dialect) from exc
