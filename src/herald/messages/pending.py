"""Rows written with the session's next flush, as plain rows: one executemany per table instead of an ORM
object per row (on PostgreSQL, one statement for all of them).

Paths that plan many messages in one transaction (a trigger's send steps for a group commit of events, a batch
of journey timers) and never read them back in it queue the message, its content and its timeline rows here,
and a journey run entered by an event queues its own row (:func:`herald.triggers.engine.enter`). They are
written right after the flush that writes the rest of the transaction's objects, parents first (messages,
then contents, then timeline rows, then any other table in the order first queued), each table's rows in the
order they were queued; :func:`flush` writes them when no object needs a flush; a commit writes what is still
queued, a rollback drops them with everything else. A queued row may be
changed until it is written (a send step marks a late alert ``expired``; a handoff to this process's
dispatcher, :mod:`herald.pipeline.handoff`, claims the ones due now)."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Table, event, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from herald.db import jsondoc, raw
from herald.messages.models import CONTENTS, EVENTS, MESSAGES
from herald.pipeline import handoff

_KEY = "herald.pending"
_ORDER = (MESSAGES, CONTENTS, EVENTS)
"""Parents first: contents and timeline rows refer to their message."""
_TABLES = {table.name: table for table in _ORDER}


def add(session: AsyncSession | Session, table: Table, row: dict[str, Any]) -> None:
    """Queue ``row`` (every row of a table with the same keys) for the session's next flush or commit."""
    queued: dict[str, list[dict[str, Any]]] = session.info.setdefault(_KEY, {})
    queued.setdefault(table.name, []).append(row)
    _TABLES.setdefault(table.name, table)


async def flush(session: AsyncSession) -> None:
    """Flush the session, and write the queued rows even when no object needed it (no flush event then)."""
    await session.flush()
    if session.info.get(_KEY):
        await session.run_sync(_write)


async def commit(session: AsyncSession) -> None:
    """PostgreSQL: flush, then write what is still queued and ``COMMIT`` in one flight (psycopg's pipeline
    mode, on the transaction's own connection): a group commit of events ends in one round trip, not two. The
    unit of work's commit then finds the transaction committed and sends nothing. Elsewhere, with nothing
    queued, or when part of the transaction rolled back (:func:`handoff.release_if_void` must run between the
    rows and the commit), this leaves the commit to the unit of work."""
    await session.flush()  # the objects first; a flush that wrote any also wrote the queued rows
    conn = await session.connection()
    if conn.dialect.name != "postgresql" or not session.info.get(_KEY) or handoff.is_void(session.sync_session):
        return  # a void handoff requeues what it took after these rows are written, before the commit
    sql, documents = _take(session.sync_session, conn.dialect)
    psycopg = await raw.driver(conn)
    with raw.as_sqlalchemy(conn, sql, documents):  # an idempotency race: an IntegrityError, as ever
        async with psycopg.pipeline():
            await psycopg.execute(sql, documents)
            await psycopg.commit()


def _take(session: Session, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
    """PostgreSQL: the statement and its documents that write the queued rows, which are no longer queued."""
    queued = session.info.pop(_KEY)
    handoff.take(session, queued.get(MESSAGES.name, []), queued.get(CONTENTS.name, []))
    present = _present(queued)
    spec = tuple((table.name, tuple(queued[table.name][0])) for table in present)
    return _statement(spec, dialect), tuple(jsondoc.dumps(queued[table.name]) for table in present)


def _present(queued: dict[str, list[dict[str, Any]]]) -> list[Table]:
    present = [table for table in _ORDER if queued.get(table.name)]
    return present + [_TABLES[name] for name, rows in queued.items() if rows and _TABLES[name] not in _ORDER]


def _write(session: Session) -> None:
    if not session.info.get(_KEY):
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(*_take(session, conn.dialect))
        return
    queued = session.info.pop(_KEY)  # SQLite: one executemany per table (rows bound in C, no round trip)
    handoff.take(session, queued.get(MESSAGES.name, []), queued.get(CONTENTS.name, []))
    for table in _present(queued):
        conn.execute(insert(table), queued[table.name])


@cache
def _statement(spec: tuple[tuple[str, tuple[str, ...]], ...], dialect: Dialect) -> str:
    """PostgreSQL: every queued table's rows in one statement (one round trip, not one per table), each table's
    rows as one JSON document read by ``json_to_recordset`` (psycopg would otherwise send one prepared
    execution per row). Data-modifying WITH parts all run; foreign keys are checked at the statement's end,
    after the messages are in. The timeline rows get their ids in the order they were queued."""
    parts = [jsondoc.insert(_TABLES[name], columns, dialect) for name, columns in spec]
    *before, last = parts
    return "".join(f"{'WITH' if i == 0 else ','} w{i} AS ({part}) " for i, part in enumerate(before)) + last


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: UOWTransaction) -> None:
    _write(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.info.get(_KEY):
        session.flush()  # the objects first (a flush with nothing to do writes nothing, nor these rows)
        _write(session)
    handoff.release_if_void(session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: SessionTransaction) -> None:
    session.info.pop(_KEY, None)
    handoff.rolled_back(session)
