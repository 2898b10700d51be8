"""Message rows written with the session's next flush, as plain rows: one executemany per table instead of an
ORM object per row.

Paths that plan many messages in one transaction (a trigger's send steps for a group commit of events, a batch
of journey timers) and never read them back in it queue the message, its content and its timeline rows here.
They are written right after the flush that writes the rest of the transaction's objects (the journey runs
that planned them), parents first (messages, then contents, then timeline rows), in the order they were
queued; a commit writes what is still queued, a rollback drops them with everything else. A queued row may be
changed until it is written (a send step marks a late alert ``expired``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from herald.messages.models import CONTENTS, EVENTS, MESSAGES

_KEY = "herald.pending"
_ORDER = (MESSAGES, CONTENTS, EVENTS)
"""Parents first: contents and timeline rows refer to their message."""


def add(session: AsyncSession | Session, table: Table, row: dict[str, Any]) -> None:
    """Queue ``row`` (every row of a table with the same keys) for the session's next flush or commit."""
    queued: dict[str, list[dict[str, Any]]] = session.info.setdefault(_KEY, {})
    queued.setdefault(table.name, []).append(row)


def _write(session: Session) -> None:
    queued = session.info.pop(_KEY, None)
    if queued:
        conn = session.connection()
        for table in _ORDER:
            if rows := queued.get(table.name):
                conn.execute(insert(table), rows)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: UOWTransaction) -> None:
    _write(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.info.get(_KEY):
        session.flush()  # the objects first (a flush with nothing to do writes nothing, nor these rows)
        _write(session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: SessionTransaction) -> None:
    session.info.pop(_KEY, None)
